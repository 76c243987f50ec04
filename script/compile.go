package script

import (
	"fmt"

	"github.com/dop251/goja"
)

// A script's body runs inside a function, so that a top-level return ends it (as in Frappe, where
// a script is a function body in all but name) and its var declarations stay its own. The
// prefix is on the script's first line: error positions keep the script's own line numbers.
// doc and user are what Frappe passes as locals; filters is what a Permission Query sets.
const (
	wrapHead = "(function (doc, user) { var filters, conditions; "
	wrapTail = "\n;return {filters: filters, conditions: conditions}; })"
)

type compiled struct {
	source string
	prog   *goja.Program
}

func compile(sc *Script) (*goja.Program, error) {
	p, err := goja.Compile(sc.Name, wrapHead+sc.Source+wrapTail, false)
	if err != nil {
		return nil, fmt.Errorf("server script %s does not compile: %v", sc.Name, err)
	}
	return p, nil
}

// compile returns sc's program, compiled once per source: parsing costs far more than a run.
func (s *Service) compile(sc *Script) (*goja.Program, error) {
	s.progMu.Lock()
	defer s.progMu.Unlock()
	if c := s.progs[sc.Name]; c != nil && c.source == sc.Source {
		return c.prog, nil
	}
	p, err := compile(sc)
	if err != nil {
		return nil, err
	}
	s.progs[sc.Name] = &compiled{source: sc.Source, prog: p}
	return p, nil
}

// forget drops the programs of scripts no longer enabled.
func (s *Service) forget(live map[string]bool) {
	s.progMu.Lock()
	defer s.progMu.Unlock()
	for name := range s.progs {
		if !live[name] {
			delete(s.progs, name)
		}
	}
}
