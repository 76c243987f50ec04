package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
)

// GET /api/resource/{doctype}: a list, with fields, filters, or_filters, order_by, limit_start
// and limit_page_length (default 20) as Frappe takes them.
func (s *Server) listDocs(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	args, err := readArgs(r)
	if err != nil {
		return err
	}
	q, err := listQuery(args, 20)
	if err != nil {
		return err
	}
	var rows []doc.Doc
	err = s.run(r, id, func(c *doc.Context) error {
		rows, err = c.List(r.PathValue("doctype"), q)
		return err
	})
	if err != nil {
		return err
	}
	if asDict := args.String("as_dict"); asDict == "false" || asDict == "0" {
		fields := q.Fields
		if len(fields) == 0 || fields[0] == "*" {
			fields = []string{"name"}
		}
		out := make([][]any, len(rows))
		for i, d := range rows {
			for _, f := range fields {
				out[i] = append(out[i], d[f])
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": out})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": rows})
	return nil
}

// listQuery reads list arguments shared by /api/resource and frappe.client.get_list.
func listQuery(args Args, defaultLimit int) (doc.Query, error) {
	var q doc.Query
	fields, err := args.JSON("fields")
	if err != nil {
		return q, err
	}
	switch f := fields.(type) {
	case nil:
	case string:
		q.Fields = []string{f}
	case []any:
		for _, x := range f {
			s, ok := x.(string)
			if !ok {
				return q, &httpError{status: http.StatusBadRequest, typ: doc.DataError, msg: "fields must be a list of field names"}
			}
			q.Fields = append(q.Fields, s)
		}
	default:
		return q, &httpError{status: http.StatusBadRequest, typ: doc.DataError, msg: "fields must be a list of field names"}
	}
	if q.Filters, err = doc.ParseFilters(args["filters"]); err != nil {
		return q, err
	}
	if q.OrFilters, err = doc.ParseFilters(args["or_filters"]); err != nil {
		return q, err
	}
	q.OrderBy = args.String("order_by")
	if q.Start, err = intArg(args, "limit_start", 0); err != nil {
		return q, err
	}
	limitKey := "limit_page_length"
	if _, ok := args[limitKey]; !ok {
		limitKey = "limit"
	}
	if q.Limit, err = intArg(args, limitKey, defaultLimit); err != nil {
		return q, err
	}
	return q, nil
}

func intArg(args Args, k string, def int) (int, error) {
	switch v := args[k].(type) {
	case nil:
		return def, nil
	case float64:
		if v >= 0 && v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		if v == "" {
			return def, nil
		}
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, &httpError{status: http.StatusBadRequest, typ: doc.DataError, msg: k + " must be a whole number"}
}

// POST /api/resource/{doctype}: insert; the body is the document (or a form field `data` holding
// it as JSON, as older Frappe clients send).
func (s *Server) createDoc(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	body, err := docBody(r)
	if err != nil {
		return err
	}
	body["doctype"] = r.PathValue("doctype")
	var out doc.Doc
	err = s.run(r, id, func(c *doc.Context) error {
		out, err = c.Insert(body)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

// GET /api/resource/{doctype}/{name}
func (s *Server) getDoc(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var out doc.Doc
	err := s.run(r, id, func(c *doc.Context) (err error) {
		out, err = c.Get(r.PathValue("doctype"), r.PathValue("name"))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

// PUT /api/resource/{doctype}/{name}: merge the body into the document and save it; a docstatus
// in the body submits or cancels, as in Frappe.
func (s *Server) updateDoc(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	body, err := docBody(r)
	if err != nil {
		return err
	}
	var out doc.Doc
	err = s.run(r, id, func(c *doc.Context) error {
		out, err = c.Update(r.PathValue("doctype"), r.PathValue("name"), body)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

// DELETE /api/resource/{doctype}/{name}
func (s *Server) deleteDoc(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	err := s.run(r, id, func(c *doc.Context) error {
		return c.Delete(r.PathValue("doctype"), r.PathValue("name"))
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message": "ok"})
	return nil
}

// docBody reads a document from a JSON body, or from the form field `data` holding it as JSON,
// as older Frappe clients send it.
func docBody(r *http.Request) (doc.Doc, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return doc.Doc(body), nil
	}
	v, err := body.JSON("data")
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &httpError{status: http.StatusBadRequest, typ: doc.DataError, msg: "Send the document as a JSON object body"}
	}
	return m, nil
}
