package graph

import (
	"errors"
	"fmt"
	"strings"
)

// Cloud is a Microsoft cloud: it decides the Graph host, the login
// (authority) host and the token scope. The zero value is [CloudGlobal].
type Cloud string

// Clouds bulkassign knows.
const (
	// CloudGlobal is the commercial cloud: graph.microsoft.com.
	CloudGlobal Cloud = "global"
	// CloudUSGov is US Government L4 (GCC High): graph.microsoft.us.
	CloudUSGov Cloud = "usgov"
	// CloudUSGovDoD is US Government L5 (DoD): dod-graph.microsoft.us.
	CloudUSGovDoD Cloud = "usgov-dod"
	// CloudChina is the cloud operated by 21Vianet:
	// microsoftgraph.chinacloudapi.cn.
	CloudChina Cloud = "china"
)

// ErrUnknownCloud is returned by [ParseCloud] for a name it does not know.
var ErrUnknownCloud = errors.New("unknown cloud")

type cloudHosts struct{ graph, login string }

var clouds = map[Cloud]cloudHosts{
	CloudGlobal:   {graph: "graph.microsoft.com", login: "login.microsoftonline.com"},
	CloudUSGov:    {graph: "graph.microsoft.us", login: "login.microsoftonline.us"},
	CloudUSGovDoD: {graph: "dod-graph.microsoft.us", login: "login.microsoftonline.us"},
	CloudChina:    {graph: "microsoftgraph.chinacloudapi.cn", login: "login.chinacloudapi.cn"},
}

// ParseCloud reads a cloud name, case-insensitively: "global" (also "" and
// "public"), "usgov" (also "gcchigh"), "usgov-dod" (also "dod") or "china".
func ParseCloud(s string) (Cloud, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "global", "public":
		return CloudGlobal, nil
	case "usgov", "gcchigh", "usgovl4":
		return CloudUSGov, nil
	case "usgov-dod", "dod", "usgovl5":
		return CloudUSGovDoD, nil
	case "china":
		return CloudChina, nil
	}
	return "", fmt.Errorf("%w %q (want global, usgov, usgov-dod or china)", ErrUnknownCloud, truncate(s))
}

func (c Cloud) hosts() cloudHosts {
	if h, ok := clouds[c]; ok {
		return h
	}
	return clouds[CloudGlobal]
}

// String returns the cloud's name; the zero value reads "global".
func (c Cloud) String() string {
	if _, ok := clouds[c]; ok {
		return string(c)
	}
	return string(CloudGlobal)
}

// GraphURL is the cloud's Graph root without version and without a
// trailing slash, e.g. "https://graph.microsoft.com". An unknown or zero
// Cloud is global.
func (c Cloud) GraphURL() string { return "https://" + c.hosts().graph }

// LoginURL is the cloud's Microsoft Entra authority host with a trailing
// slash, as azcore's cloud.Configuration.ActiveDirectoryAuthorityHost wants
// it, e.g. "https://login.microsoftonline.com/".
func (c Cloud) LoginURL() string { return "https://" + c.hosts().login + "/" }

// Scope is the OAuth scope of an app-only Graph token in the cloud:
// "<graph URL>/.default".
func (c Cloud) Scope() string { return c.GraphURL() + "/.default" }
