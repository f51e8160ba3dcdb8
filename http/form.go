package http

import "encoding/base64"

// ParseBasicAuth decodes an Authorization field value of the Basic scheme
// (RFC 7617) into buf (at least base64.StdEncoding.DecodedLen of the
// credentials) and splits it at the first colon. user and pass alias buf.
func ParseBasicAuth(v []byte, buf []byte) (user, pass []byte, ok bool) {
	v = trimOWS(v)
	if len(v) < 6 || !eqFold(v[:6], "basic ") {
		return nil, nil, false
	}
	cred := trimOWS(v[6:])
	if base64.StdEncoding.DecodedLen(len(cred)) > len(buf) {
		return nil, nil, false
	}
	n, err := base64.StdEncoding.Decode(buf, cred)
	if err != nil {
		return nil, nil, false
	}
	d := buf[:n]
	for i, c := range d {
		if c == ':' {
			return d[:i], d[i+1:], true
		}
	}
	return nil, nil, false
}

func unhexByte(c byte) (byte, bool) {
	v, ok := unhex(c)
	return byte(v), ok
}

// FormValue finds key in an application/x-www-form-urlencoded body or a
// query string ("a=1&b=x+y%21") and decodes its value ('+' is a space,
// %XX an octet) into dst. It returns the decoded value (aliasing dst) and
// whether the key is present; malformed escapes or a value longer than dst
// give ok=false.
func FormValue(form []byte, key string, dst []byte) (value []byte, ok bool) {
	for len(form) > 0 {
		i := 0
		for i < len(form) && form[i] != '&' {
			i++
		}
		pair := form[:i]
		if i < len(form) {
			form = form[i+1:]
		} else {
			form = nil
		}
		eq := 0
		for eq < len(pair) && pair[eq] != '=' {
			eq++
		}
		if string(pair[:eq]) != key {
			continue
		}
		if eq == len(pair) {
			return dst[:0], true
		}
		return percentDecode(pair[eq+1:], dst)
	}
	return nil, false
}

func percentDecode(s, dst []byte) ([]byte, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(s) {
				return nil, false
			}
			h, ok1 := unhexByte(s[i+1])
			l, ok2 := unhexByte(s[i+2])
			if !ok1 || !ok2 {
				return nil, false
			}
			c = h<<4 | l
			i += 2
		}
		if n >= len(dst) {
			return nil, false
		}
		dst[n] = c
		n++
	}
	return dst[:n], true
}
