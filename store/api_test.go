package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
)

// secretName matches identifiers that name key material or credentials.
var secretName = regexp.MustCompile(`(?i)private|secret|scalar|seed|pin|puk|hash|priv`)

// publicKeyGetters are the exported byte-returning identifiers with "Key" in
// their name that are known to return public keys.
var publicKeyGetters = map[string]string{
	"Store.AdminKey": "the administrator's public key (SubjectPublicKeyInfo)",
}

// TestAPIReturnsNoKeyMaterial reads the package's source (go/parser) and
// checks every exported function, method and struct field of an exported
// type: none has a result or field type that can hold a private key
// (crypto.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey, ...), none whose
// name speaks of secrets, PINs or private keys returns bytes or a string,
// and byte-returning "Key" getters are only the known public-key ones.
// (TestNoKeyExport checks the same at run time by calling every
// argument-less method of a personalised store.)
func TestAPIReturnsNoKeyMaterial(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "store" {
			files = append(files, f)
		}
	}
	typeStr := func(e ast.Expr) string {
		var b strings.Builder
		var walk func(ast.Expr)
		walk = func(e ast.Expr) {
			switch x := e.(type) {
			case *ast.Ident:
				b.WriteString(x.Name)
			case *ast.SelectorExpr:
				walk(x.X)
				b.WriteString("." + x.Sel.Name)
			case *ast.StarExpr:
				b.WriteString("*")
				walk(x.X)
			case *ast.ArrayType:
				b.WriteString("[]")
				if x.Len != nil {
					b.WriteString("N")
				}
				walk(x.Elt)
			case *ast.MapType:
				b.WriteString("map[")
				walk(x.Key)
				b.WriteString("]")
				walk(x.Value)
			default:
				b.WriteString("?")
			}
		}
		walk(e)
		return b.String()
	}
	isBytes := func(s string) bool {
		return s == "[]byte" || s == "[]Nbyte" || s == "string" || s == "[][]byte" || s == "*[]byte"
	}
	checked := 0
	check := func(what, name string, typ ast.Expr) {
		checked++
		ts := typeStr(typ)
		if strings.Contains(ts, "PrivateKey") {
			t.Errorf("%s %s has type %s: it can carry a private key", what, name, ts)
		}
		short := name[strings.LastIndex(name, ".")+1:]
		if isBytes(ts) && secretName.MatchString(short) {
			t.Errorf("%s %s (%s) looks like key material or a credential by name", what, name, ts)
		}
		if isBytes(ts) && strings.Contains(short, "Key") {
			if _, ok := publicKeyGetters[name]; !ok {
				t.Errorf("%s %s returns %s: a key as bytes; if it is a public key, add it to publicKeyGetters", what, name, ts)
			}
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || d.Type.Results == nil {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					recv := strings.TrimPrefix(typeStr(d.Recv.List[0].Type), "*")
					if !ast.IsExported(recv) {
						continue
					}
					name = recv + "." + name
				}
				for _, r := range d.Type.Results.List {
					check("function", name, r.Type)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					ts, ok := s.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					for _, fld := range st.Fields.List {
						for _, n := range fld.Names {
							if n.IsExported() {
								check("field", ts.Name.Name+"."+n.Name, fld.Type)
							}
						}
					}
				}
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d exported results and fields checked: is the parser looking at the right files?", checked)
	}
	t.Logf("%d exported results and fields checked", checked)
}
