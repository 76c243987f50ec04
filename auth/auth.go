// Package auth tells who is making a request: cookie sessions with CSRF tokens, API keys, and
// Guest. It also owns the rules around the User DocType (passwords, roles, the Administrator).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livedoc/livedoc/auth/password"
	"github.com/livedoc/livedoc/doc"
)

// Service authenticates requests against the users stored by the engine.
type Service struct {
	e        *doc.Engine
	throttle *throttle

	mu       sync.Mutex
	sessions map[string]cachedSession // by hashed sid
	users    map[string]cachedUser
	keys     map[string]cachedKey // by api_key
	revoke   []func(*doc.Context, Revocation) error
}

// Session is a logged-in browser session.
type Session struct {
	ID      string // the sid's hash, as stored
	User    string
	CSRF    string
	Expires time.Time
}

// Identity is who a request acts as. Session is nil for API keys and Guest: only cookie sessions
// need the CSRF token.
type Identity struct {
	User    *doc.User
	Session *Session
	APIKey  string // set when the request authenticated with an API key
}

// Cred names the credential the identity was proven with ("sid:<hash>", "key:<api key>"; "" for
// Guest), so what was opened with it can be ended when it is revoked.
func (id *Identity) Cred() string {
	switch {
	case id.Session != nil:
		return "sid:" + id.Session.ID
	case id.APIKey != "":
		return "key:" + id.APIKey
	}
	return ""
}

// Revocation says which credentials of a user stop working, from inside the transaction that
// ends them: the realtime layer ends every socket and stream opened with them, on every node.
type Revocation struct {
	User        string   `json:"user"`
	Creds       []string `json:"creds,omitempty"`        // these (Identity.Cred)
	AllSessions bool     `json:"all_sessions,omitempty"` // every cookie session of User ...
	AllKeys     bool     `json:"all_keys,omitempty"`     // ... and its API key
	Keep        string   `json:"keep,omitempty"`         // but this one: the session that changed its own password
}

// Ends reports whether the revocation ends what user opened with cred.
func (r Revocation) Ends(user, cred string) bool {
	if user != r.User || cred == "" || cred == r.Keep {
		return false
	}
	switch {
	case slices.Contains(r.Creds, cred):
		return true
	case r.AllSessions && strings.HasPrefix(cred, "sid:"):
		return true
	case r.AllKeys && strings.HasPrefix(cred, "key:"):
		return true
	}
	return false
}

// OnRevoke registers fn to run in every transaction that revokes credentials.
func (s *Service) OnRevoke(fn func(*doc.Context, Revocation) error) {
	s.mu.Lock()
	s.revoke = append(s.revoke, fn)
	s.mu.Unlock()
}

// revokeIn ends credentials in c's transaction: stored sessions go, and the OnRevoke functions
// run; the caches forget them once the transaction commits.
func (s *Service) revokeIn(c *doc.Context, r Revocation) error {
	var sids []string
	for _, cred := range r.Creds {
		if h, ok := strings.CutPrefix(cred, "sid:"); ok {
			sids = append(sids, h)
		}
	}
	for _, h := range sids {
		if _, err := c.Tx.Exec(c, "DELETE FROM __sessions WHERE sid = ? AND user_name = ?", h, r.User); err != nil {
			return err
		}
	}
	if r.AllSessions {
		keep, _ := strings.CutPrefix(r.Keep, "sid:")
		if _, err := c.Tx.Exec(c, "DELETE FROM __sessions WHERE user_name = ? AND sid != ?", r.User, keep); err != nil {
			return err
		}
	}
	s.mu.Lock()
	fns := slices.Clone(s.revoke)
	s.mu.Unlock()
	for _, fn := range fns {
		if err := fn(c, r); err != nil {
			return err
		}
	}
	c.AfterCommit(func() { s.Forget(r.User) })
	return nil
}

type identityKey struct{}

// WithIdentity carries the request's identity into the transactions it runs, so the rules of the
// User DocType know which session is making a change.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// currentCred is the credential of the request a transaction runs for ("" when none).
func currentCred(ctx context.Context) string {
	if id, ok := ctx.Value(identityKey{}).(*Identity); ok {
		return id.Cred()
	}
	return ""
}

// Cached entries are re-read after cacheTTL, so a logout, a disabled user or a changed role on
// another node takes effect within that time.
const cacheTTL = 10 * time.Second

// SessionLifetime is how long a login lasts.
const SessionLifetime = 7 * 24 * time.Hour

type cachedSession struct {
	s    *Session
	seen time.Time
}
type cachedUser struct {
	u    *doc.User
	seen time.Time
}
type cachedKey struct {
	user, secretHash string
	seen             time.Time
}

// AuthenticationError is Frappe's exception class for failed logins and bad credentials (401).
const AuthenticationError = "AuthenticationError"

// Authentication failures, in Frappe's words.
var (
	ErrBadCredentials = &doc.Error{Type: AuthenticationError, Message: "Invalid login credentials"}
	ErrDisabled       = &doc.Error{Type: AuthenticationError, Message: "User disabled or missing"}
)

// ThrottledError says a login was refused without checking the password.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("Too many failed logins: try again in %d seconds", int(e.Wait.Seconds()+0.999))
}

// New sets up authentication on e: the session table and the User DocType's rules.
func New(ctx context.Context, e *doc.Engine) (*Service, error) {
	s := &Service{e: e, throttle: newThrottle(), sessions: map[string]cachedSession{},
		users: map[string]cachedUser{}, keys: map[string]cachedKey{}}
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := c.Tx.LockSchema(c); err != nil {
			return err
		}
		_, err := c.Tx.Exec(c, `CREATE TABLE IF NOT EXISTS __sessions (sid TEXT PRIMARY KEY, user_name TEXT NOT NULL,
			csrf TEXT NOT NULL, expires TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.On("User", doc.Validate, s.validateUser)
	e.On("User", doc.OnTrash, func(c *doc.Context, d doc.Doc) error {
		if d.Name() == doc.Administrator || d.Name() == doc.Guest {
			return doc.Errorf(doc.PermissionError, "%s cannot be deleted", d.Name())
		}
		return s.revokeIn(c, Revocation{User: d.Name(), AllSessions: true, AllKeys: true})
	})
	e.On("User", doc.BeforeRename, func(c *doc.Context, d doc.Doc) error {
		for _, n := range []string{d.Name(), d.String("new_name")} {
			if n == doc.Administrator || n == doc.Guest {
				return doc.Errorf(doc.PermissionError, "Not permitted: the %s user cannot be renamed, and no user can take its name", n)
			}
		}
		// The user's sessions are under the old name: they end, and the user logs in again.
		return s.revokeIn(c, Revocation{User: d.Name(), AllSessions: true, AllKeys: true})
	})
	forget := func(c *doc.Context, d doc.Doc) error {
		c.AfterCommit(func() { s.Forget(d.Name()) })
		return nil
	}
	e.On("User", doc.OnChange, forget)
	e.On("User", doc.AfterDelete, forget)
	return s, nil
}

// EnsureAdministrator creates the Administrator on first start. With an empty pw it generates one
// and returns it, to be shown once; when the Administrator exists it does nothing.
func (s *Service) EnsureAdministrator(ctx context.Context, pw string) (generated string, err error) {
	err = s.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := c.Tx.LockSchema(c); err != nil { // nodes starting together create it once
			return err
		}
		if _, err := c.Sudo().Get("User", doc.Administrator); err == nil {
			return nil
		}
		if pw == "" {
			pw = randomToken(12)
			generated = pw
		}
		_, err := c.Sudo().Insert(doc.Doc{"doctype": "User", "name": doc.Administrator, "email": "admin@localhost",
			"first_name": doc.Administrator, "user_type": doc.SystemUser, "new_password": pw,
			"roles": []any{map[string]any{"role": doc.SystemManager}}})
		return err
	})
	return generated, err
}

// Login checks a user's password and opens a session. The returned sid goes into the cookie; only
// its hash is stored.
func (s *Service) Login(ctx context.Context, usr, pwd, ip string) (sid string, sess *Session, err error) {
	usr = strings.TrimSpace(usr)
	if wait := s.throttle.wait(usr, ip); wait > 0 {
		return "", nil, &ThrottledError{Wait: wait}
	}
	err = s.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		name, err := s.userByLogin(c, usr)
		if err != nil {
			return err
		}
		hash := ""
		if name != "" {
			if hash, err = c.Secret("User", name, "new_password"); err != nil {
				return err
			}
		}
		if hash == "" {
			password.Verify(dummyHash, pwd) // same work as a real check: no user enumeration by timing
			return ErrBadCredentials
		}
		if !password.Verify(hash, pwd) {
			return ErrBadCredentials
		}
		u, err := s.loadUser(c, name)
		if err != nil {
			return err
		}
		sid = randomToken(32)
		sess = &Session{ID: hashToken(sid), User: u.Name, CSRF: randomToken(24), Expires: time.Now().Add(SessionLifetime)}
		_, err = c.Tx.Exec(c, "INSERT INTO __sessions (sid, user_name, csrf, expires) VALUES (?, ?, ?, ?)",
			hashToken(sid), sess.User, sess.CSRF, sess.Expires.UTC().Format(time.RFC3339))
		return err
	})
	if errors.Is(err, ErrBadCredentials) {
		s.throttle.fail(usr, ip)
	}
	if err != nil {
		return "", nil, err
	}
	s.throttle.succeed(usr, ip)
	return sid, sess, nil
}

// Logout ends the session sess, and with it every socket and stream it opened.
func (s *Service) Logout(ctx context.Context, sess *Session) error {
	s.mu.Lock()
	delete(s.sessions, sess.ID)
	s.mu.Unlock()
	return s.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		return s.revokeIn(c, Revocation{User: sess.User, Creds: []string{"sid:" + sess.ID}})
	})
}

// UpdatePassword is Frappe's update_password for the logged-in user: the old password must be
// right; the user's other sessions end.
func (s *Service) UpdatePassword(c *doc.Context, oldPassword, newPassword string) error {
	user := c.User.Name
	if user == doc.Guest {
		return doc.Errorf(doc.PermissionError, "Not permitted: log in to change your password")
	}
	if newPassword == "" {
		return doc.Errorf(doc.MandatoryError, "new_password is required")
	}
	hash, err := c.Secret("User", user, "new_password")
	if err != nil {
		return err
	}
	if hash == "" || !password.Verify(hash, oldPassword) {
		return &doc.Error{Type: AuthenticationError, Message: "Incorrect User or Password"}
	}
	newHash, err := password.Hash(newPassword)
	if err != nil {
		return err
	}
	if err := c.SetSecret("User", user, "new_password", newHash); err != nil {
		return err
	}
	return s.revokeIn(c, Revocation{User: user, AllSessions: true, Keep: currentCred(c)})
}

// Authenticate tells who the request is from: an `Authorization: token key:secret` (or Basic)
// header, else the `sid` cookie, else Guest. Credentials that are present but wrong are an error,
// never a silent fall back to Guest.
func (s *Service) Authenticate(r *http.Request) (*Identity, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return s.authenticateHeader(r.Context(), h)
	}
	if c, err := r.Cookie("sid"); err == nil && c.Value != "" && c.Value != "Guest" {
		sess, err := s.session(r.Context(), c.Value)
		if err != nil {
			return nil, err
		}
		if sess == nil {
			return &Identity{User: doc.GuestUser}, nil // an expired cookie is just no session
		}
		u, err := s.User(r.Context(), sess.User)
		if err != nil {
			return nil, err
		}
		return &Identity{User: u, Session: sess}, nil
	}
	return &Identity{User: doc.GuestUser}, nil
}

// AuthenticateToken checks "key:secret", as sent in a socket's auth payload.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Identity, error) {
	return s.authenticateHeader(ctx, "token "+token)
}

func (s *Service) authenticateHeader(ctx context.Context, h string) (*Identity, error) {
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "token":
	case "basic":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return nil, ErrBadCredentials
		}
		cred = string(b)
	default:
		return nil, ErrBadCredentials
	}
	key, secret, ok := strings.Cut(strings.TrimSpace(cred), ":")
	if !ok || key == "" || secret == "" {
		return nil, ErrBadCredentials
	}
	user, err := s.userByKey(ctx, key, secret)
	if err != nil {
		return nil, err
	}
	u, err := s.User(ctx, user)
	if err != nil {
		return nil, err
	}
	return &Identity{User: u, APIKey: key}, nil
}

// GenerateKeys gives user a new API key and secret, replacing any old pair. Only the secret's
// hash is stored; the secret is returned this once.
func (s *Service) GenerateKeys(c *doc.Context, user string) (key, secret string, err error) {
	if c.User.Name != user && !c.User.IsAdmin() && !c.User.HasRole(doc.SystemManager) {
		return "", "", doc.Errorf(doc.PermissionError, "Not permitted: only a System Manager can generate keys for another user")
	}
	old, err := c.Sudo().Get("User", user)
	if err != nil {
		return "", "", err
	}
	if user == doc.Administrator && !c.User.IsAdmin() {
		return "", "", doc.Errorf(doc.PermissionError, "Not permitted: only the Administrator can generate the Administrator's keys")
	}
	if oldKey := old.String("api_key"); oldKey != "" {
		if err := s.revokeIn(c, Revocation{User: user, Creds: []string{"key:" + oldKey}}); err != nil {
			return "", "", err
		}
	}
	key, secret = randomToken(12), randomToken(24)
	if _, err := c.Sudo().Update("User", user, map[string]any{"api_key": key}); err != nil {
		return "", "", err
	}
	if err := c.SetSecret("User", user, "api_secret", hashToken(secret)); err != nil {
		return "", "", err
	}
	c.AfterCommit(func() { s.Forget(user) })
	return key, secret, nil
}

// User returns the enabled user named name with their roles.
func (s *Service) User(ctx context.Context, name string) (*doc.User, error) {
	if name == doc.Guest {
		return doc.GuestUser, nil
	}
	s.mu.Lock()
	cu, ok := s.users[name]
	s.mu.Unlock()
	if ok && time.Since(cu.seen) < cacheTTL {
		return cu.u, nil
	}
	var u *doc.User
	err := s.e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
		var err error
		u, err = s.loadUser(c, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.users[name] = cachedUser{u: u, seen: time.Now()}
	s.mu.Unlock()
	return u, nil
}

// UserIn is User as c's transaction sees it, uncached: for checking what another user may do
// within a change (ErrDisabled when they are disabled or do not exist).
func (s *Service) UserIn(c *doc.Context, name string) (*doc.User, error) { return s.loadUser(c, name) }

func (s *Service) loadUser(c *doc.Context, name string) (*doc.User, error) {
	d, err := c.Sudo().Get("User", name)
	if err != nil {
		if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError {
			return nil, ErrDisabled
		}
		return nil, err
	}
	if d.Int("enabled") == 0 {
		return nil, ErrDisabled
	}
	if name == doc.Administrator {
		return doc.AdminUser, nil
	}
	u := &doc.User{Name: name, UserType: d.String("user_type"), Roles: []string{doc.RoleAll, doc.RoleGuest}}
	for _, r := range d.Children("roles") {
		if role := r.String("role"); !slices.Contains(u.Roles, role) {
			u.Roles = append(u.Roles, role)
		}
	}
	return u, nil
}

// userByLogin finds the user for a login name: the user's name or email.
func (s *Service) userByLogin(c *doc.Context, usr string) (string, error) {
	if usr == "" {
		return "", nil
	}
	rows, err := c.Sudo().List("User", doc.Query{Fields: []string{"name"}, OrFilters: []doc.Filter{
		{Field: "name", Op: "=", Value: usr}, {Field: "email", Op: "=", Value: usr}}, Limit: 1})
	if err != nil || len(rows) == 0 {
		return "", err
	}
	return rows[0].Name(), nil
}

func (s *Service) userByKey(ctx context.Context, key, secret string) (string, error) {
	s.mu.Lock()
	ck, ok := s.keys[key]
	s.mu.Unlock()
	if !ok || time.Since(ck.seen) >= cacheTTL {
		err := s.e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
			rows, err := c.Sudo().List("User", doc.Query{Fields: []string{"name"}, Filters: []doc.Filter{{Field: "api_key", Op: "=", Value: key}}, Limit: 1})
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				return ErrBadCredentials
			}
			h, err := c.Secret("User", rows[0].Name(), "api_secret")
			ck = cachedKey{user: rows[0].Name(), secretHash: h, seen: time.Now()}
			return err
		})
		if err != nil {
			return "", err
		}
		s.mu.Lock()
		s.keys[key] = ck
		s.mu.Unlock()
	}
	if ck.secretHash == "" || subtle.ConstantTimeCompare([]byte(ck.secretHash), []byte(hashToken(secret))) != 1 {
		return "", ErrBadCredentials
	}
	return ck.user, nil
}

func (s *Service) session(ctx context.Context, sid string) (*Session, error) {
	return s.sessionByHash(ctx, hashToken(sid))
}

func (s *Service) sessionByHash(ctx context.Context, h string) (*Session, error) {
	s.mu.Lock()
	cs, ok := s.sessions[h]
	s.mu.Unlock()
	if !ok || time.Since(cs.seen) >= cacheTTL {
		var found *Session
		err := s.e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
			var user, csrf, expires string
			err := c.Tx.QueryRow(c, "SELECT user_name, csrf, expires FROM __sessions WHERE sid = ?", h).Scan(&user, &csrf, &expires)
			if err != nil {
				return nil // no such session
			}
			exp, _ := time.Parse(time.RFC3339, expires)
			found = &Session{ID: h, User: user, CSRF: csrf, Expires: exp}
			return nil
		})
		if err != nil {
			return nil, err
		}
		cs = cachedSession{s: found, seen: time.Now()}
		s.mu.Lock()
		s.sessions[h] = cs
		s.mu.Unlock()
	}
	if cs.s == nil || time.Now().After(cs.s.Expires) {
		return nil, nil
	}
	return cs.s, nil
}

// Forget drops what is cached about a user, so the next request reads its roles, enabled flag,
// keys and sessions again. Every node calls it when a User changes (the realtime layer tells them).
func (s *Service) Forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, name)
	for k, ck := range s.keys {
		if ck.user == name {
			delete(s.keys, k)
		}
	}
	for k, cs := range s.sessions {
		if cs.s != nil && cs.s.User == name {
			delete(s.sessions, k)
		}
	}
}

// validateUser keeps users sane: a full name, a plausible email; only a System Manager creates
// users or changes a password, roles, user type or the enabled flag (a user changes their own
// password with UpdatePassword, which asks for the old one); only the Administrator changes the
// Administrator. A new password or a disabled user ends that user's sessions.
func (s *Service) validateUser(c *doc.Context, d doc.Doc) error {
	d["full_name"] = strings.TrimSpace(d.String("first_name") + " " + d.String("last_name"))
	if email := d.String("email"); !strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n") {
		return doc.Errorf(doc.ValidationError, "%q is not a valid email address", email)
	}
	if d.Name() == doc.Guest {
		return doc.Errorf(doc.PermissionError, "Not permitted: %s is not a user that can be created or changed", doc.Guest)
	}
	old, err := c.Sudo().Get("User", d.Name())
	isNew := false
	if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError {
		isNew, err = true, nil
	}
	if err != nil {
		return err
	}
	if d.Name() == doc.Administrator && !c.User.IsAdmin() {
		return doc.Errorf(doc.PermissionError, "Not permitted: only the Administrator can change the Administrator")
	}
	manager := c.User.IsAdmin() || c.User.HasRole(doc.SystemManager)
	newPassword := d.String("new_password") != ""
	if !manager {
		switch {
		case isNew:
			return doc.Errorf(doc.PermissionError, "Not permitted: only a System Manager can create users")
		case newPassword:
			return doc.Errorf(doc.PermissionError, "Not permitted: change your password with frappe.core.doctype.user.user.update_password (it asks for the old one)")
		case d.String("user_type") != old.String("user_type") || d.Int("enabled") != old.Int("enabled") || !sameRoles(old, d):
			return doc.Errorf(doc.PermissionError, "Not permitted: only a System Manager can change roles, user type or enabled")
		}
	}
	if isNew {
		return nil
	}
	switch {
	case d.Int("enabled") == 0 && old.Int("enabled") != 0:
		return s.revokeIn(c, Revocation{User: d.Name(), AllSessions: true, AllKeys: true})
	case newPassword:
		keep := ""
		if c.User.Name == d.Name() {
			keep = currentCred(c)
		}
		return s.revokeIn(c, Revocation{User: d.Name(), AllSessions: true, Keep: keep})
	}
	return nil
}

// CredValid reports whether the credential user proved itself with still works: its session not
// ended, its API key not replaced. Guest ("") always is. An error means it could not be checked
// (the database did not answer), which is not a verdict.
func (s *Service) CredValid(ctx context.Context, user, cred string) (bool, error) {
	switch {
	case cred == "":
		return true, nil
	case strings.HasPrefix(cred, "sid:"):
		sess, err := s.sessionByHash(ctx, strings.TrimPrefix(cred, "sid:"))
		return err == nil && sess != nil && sess.User == user, err
	case strings.HasPrefix(cred, "key:"):
		key := strings.TrimPrefix(cred, "key:")
		// The keys cache forgets a user's keys when they are revoked (Forget), on every node.
		s.mu.Lock()
		ck, ok := s.keys[key]
		s.mu.Unlock()
		if ok && time.Since(ck.seen) < cacheTTL {
			return ck.user == user, nil
		}
		found := false
		err := s.e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
			rows, err := c.Sudo().List("User", doc.Query{Fields: []string{"name"}, Filters: []doc.Filter{{Field: "api_key", Op: "=", Value: key}}, Limit: 1})
			found = err == nil && len(rows) == 1 && rows[0].Name() == user
			return err
		})
		return found, err
	}
	return false, nil
}

func sameRoles(a, b doc.Doc) bool {
	var ra, rb []string
	for _, r := range a.Children("roles") {
		ra = append(ra, r.String("role"))
	}
	for _, r := range b.Children("roles") {
		rb = append(rb, r.String("role"))
	}
	slices.Sort(ra)
	slices.Sort(rb)
	return slices.Equal(ra, rb)
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)[:n]
}

// hashToken hashes high-entropy tokens (session ids, API secrets). They are random, so a fast hash
// is enough; a slow KDF would only add latency to every request.
func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

var dummyHash = func() string {
	h, _ := password.Hash("livedoc-timing-equaliser")
	return h
}()
