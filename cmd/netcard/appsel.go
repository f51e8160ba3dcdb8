package main

import (
	"fmt"
	"strings"

	"netcard/apps"
	"netcard/examples/sign"
	"netcard/examples/totp"
	"netcard/store"
)

// extraApps are the example applications netcard can run beside the
// built-ins (--apps).
var extraApps = map[string]func() apps.Registered{
	"sign": func() apps.Registered { return apps.Registered{App: sign.App{}, Manifest: sign.Manifest} },
	"totp": func() apps.Registered { return apps.Registered{App: &totp.App{}, Manifest: totp.Manifest} },
}

// selectApps turns a comma-separated list of application names (the
// --apps flag, else the store's configuration key "card.apps"; empty:
// all built-ins and no examples) into the card's Builtins and Apps.
func selectApps(list string, st *store.Store) (builtins []string, extra []apps.Registered, err error) {
	if list == "" {
		list, _ = st.Config("card.apps")
	}
	if list == "" {
		return nil, nil, nil
	}
	builtins = []string{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if mk, ok := extraApps[n]; ok {
			extra = append(extra, mk())
			continue
		}
		found := false
		for _, b := range apps.BuiltinNames {
			found = found || b == n
		}
		if !found {
			return nil, nil, fmt.Errorf("unknown application %q (built-ins: %s; examples: sign, totp)", n, strings.Join(apps.BuiltinNames, ", "))
		}
		builtins = append(builtins, n)
	}
	return builtins, extra, nil
}
