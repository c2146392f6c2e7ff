// Command gopher-lua runs an Argo CD resource health script the way Argo CD does: with the
// interpreter Argo CD embeds (github.com/yuin/gopher-lua, Lua 5.1), only the base, table, string
// and math libraries opened, the resource as the global `obj`, and the table the script returns
// printed back as JSON.
//
//	gopher-lua health.lua < object.json   →   {"status":"Healthy","message":"..."}
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gopher-lua SCRIPT.lua < OBJECT.json")
		os.Exit(2)
	}
	var obj any
	if err := json.NewDecoder(os.Stdin).Decode(&obj); err != nil {
		fmt.Fprintln(os.Stderr, "reading the object from stdin:", err)
		os.Exit(2)
	}
	// Argo CD skips the full standard library: no io, no os, no require of files.
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoFile(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := json.Marshal(fromLua(L.Get(-1)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "encoding the result:", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

// toLua converts decoded JSON as Argo CD's decodeValue does: objects and arrays become tables,
// arrays 1-based.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := L.NewTable()
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, item := range v {
			t.RawSetString(k, toLua(L, item))
		}
		return t
	}
	panic(fmt.Sprintf("unexpected JSON value %T", v))
}

// fromLua converts the returned table back; health scripts return flat tables of strings.
func fromLua(v lua.LValue) any {
	switch v := v.(type) {
	case *lua.LTable:
		m := map[string]any{}
		v.ForEach(func(k, item lua.LValue) { m[k.String()] = fromLua(item) })
		return m
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case lua.LBool:
		return bool(v)
	}
	return nil
}
