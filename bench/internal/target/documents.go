package target

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Documents is implemented by targets whose documents can be inserted, changed, deleted and read
// through a REST API and followed live (doc-view, live-list): livedoc. Every call is the bench
// user's, so a real user's permission checks are part of every figure.
type Documents interface {
	Saver
	// DocType is the DocType the calls work on.
	DocType() string
	// Insert creates a document with fields and returns its name and modification stamp.
	Insert(ctx context.Context, fields map[string]any) (name string, stamp time.Time, err error)
	// Update changes fields of the document and returns the new version's modification stamp.
	Update(ctx context.Context, name string, fields map[string]any) (time.Time, error)
	// Delete deletes the document.
	Delete(ctx context.Context, name string) error
	// Get reads the document (GET /api/resource/<DocType>/<name>): its JSON object.
	Get(ctx context.Context, name string) (json.RawMessage, error)
	// List runs frappe.client.get_list with query (doctype, fields, filters, order_by, limit...):
	// the rows' JSON array.
	List(ctx context.Context, query map[string]any) (json.RawMessage, error)
}

func (l *livedoc) DocType() string { return BenchDocType }

func (l *livedoc) userHeader() http.Header {
	return http.Header{"Authorization": {"token " + l.userToken}}
}

func (l *livedoc) Insert(ctx context.Context, fields map[string]any) (string, time.Time, error) {
	var out struct {
		Data struct {
			Name     string `json:"name"`
			Modified string `json:"modified"`
		} `json:"data"`
	}
	if _, err := l.post(ctx, "/api/resource/"+url.PathEscape(BenchDocType), l.userHeader(), fields, &out); err != nil {
		return "", time.Time{}, err
	}
	if out.Data.Name == "" {
		return "", time.Time{}, fmt.Errorf("insert: no name in the answer")
	}
	return out.Data.Name, ParseStamp(out.Data.Modified), nil
}

func (l *livedoc) Update(ctx context.Context, name string, fields map[string]any) (time.Time, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return time.Time{}, err
	}
	var out struct {
		Data struct {
			Modified string `json:"modified"`
		} `json:"data"`
	}
	if _, err := l.send(ctx, http.MethodPut, l.writeBase(), l.docPath(name), b, &out); err != nil {
		return time.Time{}, err
	}
	return ParseStamp(out.Data.Modified), nil
}

func (l *livedoc) Delete(ctx context.Context, name string) error {
	_, err := l.send(ctx, http.MethodDelete, l.writeBase(), l.docPath(name), nil, nil)
	return err
}

// Get reads from --url, the node the viewers are connected to.
func (l *livedoc) Get(ctx context.Context, name string) (json.RawMessage, error) {
	var out struct {
		Data json.RawMessage `json:"data"`
	}
	if _, err := l.send(ctx, http.MethodGet, l.o.URL, l.docPath(name), nil, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// List reads from --url, as Get.
func (l *livedoc) List(ctx context.Context, query map[string]any) (json.RawMessage, error) {
	b, err := json.Marshal(query)
	if err != nil {
		return nil, err
	}
	var out struct {
		Message json.RawMessage `json:"message"`
	}
	if _, err := l.send(ctx, http.MethodPost, l.o.URL, "/api/method/frappe.client.get_list", b, &out); err != nil {
		return nil, err
	}
	return out.Message, nil
}

func (l *livedoc) docPath(name string) string {
	return "/api/resource/" + url.PathEscape(BenchDocType) + "/" + url.PathEscape(name)
}

// send makes one request as the bench user to base+path with an optional JSON body.
func (l *livedoc) send(ctx context.Context, method, base, path string, body []byte, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header = l.userHeader()
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	return l.do(req, out)
}
