package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Operation names of lookups and removals as they appear in [Error.Op].
const (
	OpLookup = "lookup"
	OpDelete = "delete"
)

// Read permissions of the lookups (application permissions; the ReadWrite
// twin of each works too).
const (
	// PermGroupRead is what [Client.FindGroups] needs.
	PermGroupRead = "Group.Read.All"
	// PermFilterRead is what [Client.ListFilters] needs.
	PermFilterRead = "DeviceManagementConfiguration.Read.All"
)

// MaxNameLen is the longest display name a lookup accepts, in bytes
// (Entra ID and Intune cap display names at 256 characters).
const MaxNameLen = 1024

// ErrInvalidName is wrapped by [ValidateName] failures.
var ErrInvalidName = errors.New("invalid display name")

// ErrAbsent is matched (errors.Is) by the error [Client.Delete] returns when
// Graph answers 404: the assignment, or its policy, is not there.
var ErrAbsent = errors.New("graph: assignment absent")

// routeMessagePrefix starts the message Graph answers a verb it does not
// route on a collection with, whatever the code ("No OData route exists
// that match template …").
const routeMessagePrefix = "No OData route"

// Named is an object found by display name: a group, an assignment filter
// or a policy.
type Named struct {
	// ID is the object's id (a GUID for groups and filters; a policy id as
	// [ValidatePolicyID] accepts it for policies).
	ID string `json:"id"`
	// DisplayName is its name as Graph holds it.
	DisplayName string `json:"display_name"`
	// Platform is the platform of an assignment filter ("windows10AndLater",
	// …); empty for groups and policies.
	Platform string `json:"platform,omitempty"`
}

// PermissionError is a lookup Graph refused with 403: it names the
// permission the application needs in the tenant. errors.As reaches the
// *[Error] it wraps, and errors.Is(err, ErrForbidden) holds.
type PermissionError struct {
	// What was looked up, e.g. "groups" or "deviceConfigurations".
	What string
	// Permission is the application permission that would allow it.
	Permission string
	// Err is Graph's answer.
	Err error
}

// Error says what was refused and which permission grants it.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("look up %s: forbidden: the application needs the %s permission (or its ReadWrite twin) with admin consent in this tenant: %v",
		e.What, e.Permission, e.Err)
}

// Unwrap returns Graph's answer.
func (e *PermissionError) Unwrap() error { return e.Err }

// ValidateName accepts a display name that may be sent in a query: not
// empty, valid UTF-8 without control characters, at most [MaxNameLen] bytes.
func ValidateName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes (max %d)", ErrInvalidName, len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: not UTF-8 text", ErrInvalidName)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%w: %q holds a control character", ErrInvalidName, truncate(s))
	}
	return nil
}

// ValidateAssignmentID accepts an assignment id as Graph makes them: GUIDs
// joined by '_' and suffixes ("{policy}_{group}", "{group}_1_0"): ASCII
// letters, digits, '-' and '_', 1 to 256 of them. Nothing else can reach a
// URL path.
func ValidateAssignmentID(s string) error {
	if s == "" || len(s) > 256 {
		return fmt.Errorf("%w: %q is not an assignment id", ErrInvalidID, truncate(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnumByte(c) && c != '-' && c != '_' {
			return fmt.Errorf("%w: %q is not an assignment id", ErrInvalidID, truncate(s))
		}
	}
	return nil
}

// ODataString quotes s as an OData string literal: in single quotes, with
// each single quote doubled, as OData spells a quote inside a literal.
func ODataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// queryValue percent-encodes an OData query option value (spaces as %20,
// which every OData service reads, rather than '+').
func queryValue(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// NameProperty is the property a kind's policies are named by:
// "name" for configurationPolicies (settings catalog), "displayName" for
// every other collection.
func (k *Kind) NameProperty() string {
	if k.Collection == "configurationPolicies" {
		return "name"
	}
	return "displayName"
}

// ReadVersion is the version lookups and assignment reads of the kind use:
// beta where the kind exists in beta (v1.0 hides filters, policy-set
// sources and policy types it does not model), v1.0 otherwise.
func (k *Kind) ReadVersion() string {
	if k.HasVersion(Beta) {
		return Beta
	}
	return V1
}

// ReadPermission is the application permission that allows reading the
// kind's policies: the Read twin of [Kind.Permission].
func (k *Kind) ReadPermission() string {
	return strings.Replace(k.Permission, ".ReadWrite.", ".Read.", 1)
}

// FindGroups returns the tenant's groups whose displayName equals name
// (GET /v1.0/groups?$filter=displayName eq '…'&$select=id,displayName),
// every page of them. Graph compares without regard to case; answers that
// do not match that way are dropped. A 403 is a *[PermissionError] naming
// [PermGroupRead].
func (c *Client) FindGroups(ctx context.Context, tenant, name string) ([]Named, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if err := ValidateName(name); err != nil {
		return nil, &Error{Op: OpLookup, Class: ClassPermanent, Err: err}
	}
	u := c.baseStr + "/" + V1 + "/groups?$filter=" + queryValue("displayName eq "+ODataString(name)) +
		"&$select=" + queryValue("id,displayName")
	var out []Named
	err := c.pages(ctx, tenant, u, func(raw json.RawMessage) error {
		var g struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
		}
		if err := json.Unmarshal(raw, &g); err != nil {
			return fmt.Errorf("decode group: %w", err)
		}
		if !strings.EqualFold(g.DisplayName, name) {
			return nil
		}
		id, err := NormalizeGUID(g.ID)
		if err != nil {
			return fmt.Errorf("group %q: %w", truncate(g.DisplayName), err)
		}
		out = append(out, Named{ID: id, DisplayName: g.DisplayName})
		return nil
	})
	if err != nil {
		return nil, forbidden(err, "groups", PermGroupRead)
	}
	return out, nil
}

// ListFilters returns every assignment filter of the tenant
// (GET /beta/deviceManagement/assignmentFilters; filters exist only in
// beta) with id, displayName and platform. A 403 is a *[PermissionError]
// naming [PermFilterRead].
func (c *Client) ListFilters(ctx context.Context, tenant string) ([]Named, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	u := c.baseStr + "/" + Beta + "/deviceManagement/assignmentFilters?$select=" + queryValue("id,displayName,platform")
	var out []Named
	err := c.pages(ctx, tenant, u, func(raw json.RawMessage) error {
		var f struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
			Platform    string `json:"platform"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return fmt.Errorf("decode assignment filter: %w", err)
		}
		id, err := NormalizeGUID(f.ID)
		if err != nil {
			return fmt.Errorf("assignment filter %q: %w", truncate(f.DisplayName), err)
		}
		out = append(out, Named{ID: id, DisplayName: f.DisplayName, Platform: f.Platform})
		return nil
	})
	if err != nil {
		return nil, forbidden(err, "assignment filters", PermFilterRead)
	}
	return out, nil
}

// ListPolicies returns every policy of the kind's collection with its id
// and name ([Kind.NameProperty]), read in [Kind.ReadVersion]
// (GET /{version}/{root}/{collection}?$select=id,{name}). Intune does not
// document $filter on names for every collection, so callers match names
// themselves; one list serves every name of the collection. A 403 is a
// *[PermissionError] naming [Kind.ReadPermission].
func (c *Client) ListPolicies(ctx context.Context, tenant string, k *Kind) ([]Named, error) {
	if k == nil {
		return nil, &Error{Op: OpLookup, Class: ClassPermanent, Err: errors.New("nil kind")}
	}
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	prop := k.NameProperty()
	u := c.baseStr + "/" + k.ReadVersion() + "/" + k.Root + "/" + k.Collection + "?$select=" + queryValue("id,"+prop)
	var out []Named
	err := c.pages(ctx, tenant, u, func(raw json.RawMessage) error {
		var p map[string]json.RawMessage
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("decode policy: %w", err)
		}
		var id, name string
		if err := json.Unmarshal(p["id"], &id); err != nil {
			return fmt.Errorf("decode policy id: %w", err)
		}
		if v, ok := p[prop]; ok && json.Unmarshal(v, &name) != nil {
			return fmt.Errorf("decode policy %s", prop)
		}
		id, err := NormalizePolicyID(id)
		if err != nil {
			return fmt.Errorf("policy %q: %w", truncate(name), err)
		}
		out = append(out, Named{ID: id, DisplayName: name})
		return nil
	})
	if err != nil {
		return nil, forbidden(err, k.Collection, k.ReadPermission())
	}
	return out, nil
}

// Delete removes one assignment: DELETE
// /{version}/{root}/{collection}/{policy}[/{sub}]/assignments/{assignmentID}.
// It returns nil on 2xx; an error matching [ErrAbsent] (and wrapping the
// *[Error]) on 404; an *[Error] of ClassRouteNotSupported where the
// collection does not route the removal (use /assign without the target
// instead); any other *[Error] as the other calls do. A 5xx or a broken
// connection after the request was sent is ambiguous: re-read before
// deleting again.
func (c *Client) Delete(ctx context.Context, tenant, version string, k *Kind, policyID, assignmentID string) error {
	path, err := c.prepare(OpDelete, tenant, version, k, policyID, k.AssignmentsPath)
	if err != nil {
		return err
	}
	if err := ValidateAssignmentID(assignmentID); err != nil {
		return &Error{Op: OpDelete, Class: ClassPermanent, Err: fmt.Errorf("assignment id: %w", err)}
	}
	_, gerr := c.call(ctx, OpDelete, tenant, http.MethodDelete, c.baseStr+"/"+version+path+"/"+assignmentID, nil)
	switch {
	case gerr == nil:
		return nil
	case gerr.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrAbsent, gerr)
	case gerr.StatusCode == http.StatusBadRequest && strings.HasPrefix(gerr.Message, routeMessagePrefix):
		gerr.Class = ClassRouteNotSupported
	}
	return gerr
}

// checkTenant validates a lookup's tenant.
func checkTenant(tenant string) error {
	if err := ValidateTenant(tenant); err != nil {
		return &Error{Op: OpLookup, Class: ClassPermanent, Err: fmt.Errorf("tenant: %w", err)}
	}
	return nil
}

// pages GETs first and every @odata.nextLink after it (only to BaseURL's
// scheme and host; at most maxPages), handing each item of "value" to
// item. Every error is an *Error.
func (c *Client) pages(ctx context.Context, tenant, first string, item func(json.RawMessage) error) error {
	next := first
	seen := make(map[string]bool)
	for page := 0; ; page++ {
		if page == maxPages {
			return &Error{Op: OpLookup, Class: ClassPermanent, Message: fmt.Sprintf("more than %d pages", maxPages)}
		}
		seen[next] = true
		resp, gerr := c.call(ctx, OpLookup, tenant, http.MethodGet, next, nil)
		if gerr != nil {
			return gerr
		}
		var p struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(resp.body, &p); err != nil {
			return &Error{Op: OpLookup, Class: ClassTransient, StatusCode: resp.status, Err: fmt.Errorf("decode page: %w", err)}
		}
		for _, raw := range p.Value {
			if err := item(raw); err != nil {
				return &Error{Op: OpLookup, Class: ClassPermanent, StatusCode: resp.status, Err: err}
			}
		}
		if p.NextLink == "" {
			return nil
		}
		if err := c.checkNextLink(p.NextLink); err != nil {
			return &Error{Op: OpLookup, Class: ClassPermanent, Err: err}
		}
		if seen[p.NextLink] {
			return &Error{Op: OpLookup, Class: ClassPermanent, Message: "@odata.nextLink repeats a page already read"}
		}
		next = p.NextLink
	}
}

// forbidden turns a 403 into a *PermissionError naming perm.
func forbidden(err error, what, perm string) error {
	if errors.Is(err, ErrForbidden) {
		return &PermissionError{What: what, Permission: perm, Err: err}
	}
	return err
}
