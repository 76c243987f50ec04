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
}

// Session is a logged-in browser session.
type Session struct {
	User    string
	CSRF    string
	Expires time.Time
}

// Identity is who a request acts as. Session is nil for API keys and Guest: only cookie sessions
// need the CSRF token.
type Identity struct {
	User    *doc.User
	Session *Session
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
		_, err := c.Tx.Exec(c, "DELETE FROM __sessions WHERE user_name = ?", d.Name())
		return err
	})
	forget := func(c *doc.Context, d doc.Doc) error {
		c.AfterCommit(func() { s.forgetUser(d.Name()) })
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
		sess = &Session{User: u.Name, CSRF: randomToken(24), Expires: time.Now().Add(SessionLifetime)}
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

// Logout ends the session with the given sid.
func (s *Service) Logout(ctx context.Context, sid string) error {
	h := hashToken(sid)
	s.mu.Lock()
	delete(s.sessions, h)
	s.mu.Unlock()
	return s.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Tx.Exec(c, "DELETE FROM __sessions WHERE sid = ?", h)
		return err
	})
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
	return &Identity{User: u}, nil
}

// GenerateKeys gives user a new API key and secret, replacing any old pair. Only the secret's
// hash is stored; the secret is returned this once.
func (s *Service) GenerateKeys(c *doc.Context, user string) (key, secret string, err error) {
	if c.User.Name != user && !c.User.IsAdmin() && !c.User.HasRole(doc.SystemManager) {
		return "", "", doc.Errorf(doc.PermissionError, "Not permitted: only a System Manager can generate keys for another user")
	}
	if _, err := c.Sudo().Get("User", user); err != nil {
		return "", "", err
	}
	key, secret = randomToken(12), randomToken(24)
	if _, err := c.Sudo().Update("User", user, map[string]any{"api_key": key}); err != nil {
		return "", "", err
	}
	if err := c.SetSecret("User", user, "api_secret", hashToken(secret)); err != nil {
		return "", "", err
	}
	c.AfterCommit(func() { s.forgetUser(user) })
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
	h := hashToken(sid)
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
			found = &Session{User: user, CSRF: csrf, Expires: exp}
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

func (s *Service) forgetUser(name string) {
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

// validateUser keeps users sane: a full name, a plausible email, and no user raising their own
// rights without being a System Manager.
func (s *Service) validateUser(c *doc.Context, d doc.Doc) error {
	d["full_name"] = strings.TrimSpace(d.String("first_name") + " " + d.String("last_name"))
	if email := d.String("email"); !strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n") {
		return doc.Errorf(doc.ValidationError, "%q is not a valid email address", email)
	}
	if c.User.IsAdmin() || c.User.HasRole(doc.SystemManager) {
		return nil
	}
	old, err := c.Sudo().Get("User", d.Name())
	if err != nil {
		return doc.Errorf(doc.PermissionError, "Not permitted: only a System Manager can create users")
	}
	if d.String("user_type") != old.String("user_type") || d.Int("enabled") != old.Int("enabled") || !sameRoles(old, d) {
		return doc.Errorf(doc.PermissionError, "Not permitted: only a System Manager can change roles, user type or enabled")
	}
	return nil
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
