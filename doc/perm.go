package doc

import "slices"

// User is who an operation runs as.
type User struct {
	Name     string
	Roles    []string
	UserType string // "System User" or "Website User"
}

// Well-known users and roles.
const (
	Administrator = "Administrator"
	Guest         = "Guest"
	SystemManager = "System Manager"
	RoleAll       = "All"
	RoleGuest     = "Guest"
	SystemUser    = "System User"
	WebsiteUser   = "Website User"
)

// GuestUser is the user of requests that carry no session.
var GuestUser = &User{Name: Guest, Roles: []string{RoleGuest}, UserType: WebsiteUser}

// AdminUser is the Administrator, who may do anything.
var AdminUser = &User{Name: Administrator, Roles: []string{"Administrator", SystemManager, RoleAll, RoleGuest}, UserType: SystemUser}

// HasRole reports whether the user has role r.
func (u *User) HasRole(r string) bool { return slices.Contains(u.Roles, r) }

// IsAdmin reports whether the user is the Administrator.
func (u *User) IsAdmin() bool { return u.Name == Administrator }

// Permission types.
const (
	PermRead   = "read"
	PermWrite  = "write"
	PermCreate = "create"
	PermDelete = "delete"
	PermSubmit = "submit"
	PermCancel = "cancel"
	PermAmend  = "amend"
	PermSelect = "select"
)

// grant tells what the user's roles give for one permission type: nothing, only documents the
// user owns, or all documents.
type grant int

const (
	grantNone grant = iota
	grantOwn
	grantAll
)

func (dt *DocType) grant(u *User, ptype string) grant {
	if u.IsAdmin() {
		return grantAll
	}
	g := grantNone
	for _, p := range dt.Permissions {
		// Rules of a higher permlevel give access to fields, never to documents (as in Frappe's
		// get_role_permissions): a role that reads only its own documents at level 0 and a
		// level's fields of them does not read every document.
		if p.Permlevel != 0 || !u.HasRole(p.Role) || !p.allows(ptype) {
			continue
		}
		if !p.IfOwner {
			return grantAll
		}
		g = grantOwn
	}
	return g
}

func (p Perm) allows(ptype string) bool {
	switch ptype {
	case PermRead:
		return p.Read
	case PermWrite:
		return p.Write
	case PermCreate:
		return p.Create
	case PermDelete:
		return p.Delete
	case PermSubmit:
		return p.Submit
	case PermCancel:
		return p.Cancel
	case PermAmend:
		return p.Amend
	case PermSelect:
		return p.Select
	}
	return false
}

// OwnerOf is who owns d for if_owner rules: its owner, except that a User document belongs to the
// user it describes (as in Frappe), never to whoever created it.
func (dt *DocType) OwnerOf(d Doc) string {
	if dt.Name == "User" {
		return d.Name()
	}
	return d.String("owner")
}

// ownerColumn is the column OwnerOf reads, for list queries limited to the user's own documents.
func (dt *DocType) ownerColumn() string {
	if dt.Name == "User" {
		return "name"
	}
	return "owner"
}

// Allowed reports whether user may do ptype on a stored document of dt owned by owner; a document
// with no owner is nobody's own.
func (dt *DocType) Allowed(u *User, ptype, owner string) bool {
	if owner == "" {
		owner = "\x00"
	}
	return dt.Can(u, ptype, owner)
}

// Can reports whether user may do ptype on the document of dt owned by owner ("" for "any
// document", as when asking whether a list may be shown at all).
func (dt *DocType) Can(u *User, ptype, owner string) bool {
	switch dt.grant(u, ptype) {
	case grantAll:
		return true
	case grantOwn:
		return owner == "" || owner == u.Name
	}
	return false
}

// check fails with a PermissionError unless the context's user may do ptype on d.
func (c *Context) check(dt *DocType, ptype string, d Doc) error {
	if c.sudo {
		return nil
	}
	owner := dt.OwnerOf(d)
	if ptype == PermCreate {
		owner = c.User.Name
	}
	if !dt.Allowed(c.User, ptype, owner) {
		what := dt.Name
		if n := d.Name(); n != "" && ptype != PermCreate {
			what += " " + n
		}
		return Errorf(PermissionError, "Not permitted: %s cannot %s %s", c.User.Name, ptype, what)
	}
	return nil
}

// levels returns the permlevels at which the user's roles give ptype (read or write) on dt; the
// Administrator has every level. Fields of level 0 go with the document's own rules.
func (dt *DocType) levels(u *User, ptype string) map[int]bool {
	out := map[int]bool{0: true}
	for _, p := range dt.Permissions {
		if u.IsAdmin() || (u.HasRole(p.Role) && p.allows(ptype)) {
			out[p.Permlevel] = true
		}
	}
	return out
}

// restricted reports whether some field of dt (or its child tables) has a permlevel the user
// may not do ptype at; most DocTypes have none, and nothing is to be done.
func (c *Context) restricted(dt *DocType, ptype string) (map[int]bool, bool) {
	if c.sudo || c.User.IsAdmin() {
		return nil, false
	}
	lv := dt.levels(c.User, ptype)
	var walk func(t *DocType) bool
	walk = func(t *DocType) bool {
		for i := range t.Fields {
			f := &t.Fields[i]
			if f.Permlevel > 0 && !lv[f.Permlevel] {
				return true
			}
			if f.IsTable() {
				if child, err := c.meta(f.Options); err == nil && walk(child) {
					return true
				}
			}
		}
		return false
	}
	return lv, walk(dt)
}

// stripUnreadable removes from documents the fields whose permlevel the user may not read (and
// those of their child rows, which follow the parent's levels), as Frappe's field-level
// permissions do.
func (c *Context) stripUnreadable(dt *DocType, docs ...Doc) {
	lv, some := c.restricted(dt, PermRead)
	if !some {
		return
	}
	var strip func(t *DocType, d Doc)
	strip = func(t *DocType, d Doc) {
		for i := range t.Fields {
			f := &t.Fields[i]
			if f.Permlevel > 0 && !lv[f.Permlevel] {
				delete(d, f.Fieldname)
				continue
			}
			if f.IsTable() {
				if child, err := c.meta(f.Options); err == nil {
					for _, row := range d.Children(f.Fieldname) {
						strip(child, row)
					}
				}
			}
		}
	}
	for _, d := range docs {
		strip(dt, d)
	}
}

// keepUnwritable puts back, in a document the user is saving, the stored values of the fields
// whose permlevel the user may not write (their defaults on insert, when old is nil), as Frappe
// resets them: such input is ignored, not refused. Hooks run after and may set them.
func (c *Context) keepUnwritable(dt *DocType, old, d Doc) {
	lv, some := c.restricted(dt, PermWrite)
	if !some {
		return
	}
	for i := range dt.Fields {
		f := &dt.Fields[i]
		if f.Permlevel == 0 || lv[f.Permlevel] || !f.HasValue() {
			continue
		}
		if old != nil {
			d[f.Fieldname] = old[f.Fieldname]
		} else {
			delete(d, f.Fieldname)
		}
	}
}

// GrantsAll reports whether the user may do ptype on every document of dt (not only their own).
func (dt *DocType) GrantsAll(u *User, ptype string) bool { return dt.grant(u, ptype) == grantAll }
