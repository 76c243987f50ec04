package script

import (
	"strings"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/jobs"
)

// schedPrefix names the scheduled events and job methods of Scheduler Event scripts.
const schedPrefix = "server_script:"

// schedule returns a Scheduler Event script's schedule: its cron_format, or its frequency.
func schedule(sc *Script) (string, error) {
	spec := strings.ToLower(strings.ReplaceAll(sc.EventFrequency, " ", "_"))
	if sc.EventFrequency == "Cron" {
		spec = sc.CronFormat
	}
	if _, err := jobs.ParseSchedule(spec); err != nil {
		return "", err
	}
	return spec, nil
}

// schedule makes the queue's script events those of the enabled Scheduler Event scripts.
func (s *Service) schedule(list []*Script) error {
	want := map[string]bool{}
	for _, sc := range list {
		spec, err := schedule(sc)
		if err != nil {
			s.log.Error("server script schedule: not scheduled", "script", sc.Name, "err", err)
			continue
		}
		name := schedPrefix + sc.Name
		if err := s.jobs.Schedule(name, spec, name, nil); err != nil {
			return err
		}
		want[name] = true
	}
	for _, n := range s.jobs.Scheduled(schedPrefix) {
		if !want[n] {
			s.jobs.Unschedule(n)
		}
	}
	return nil
}

// jobHandler runs scripts as jobs: a Scheduler Event script by its event's name, an API script
// (what frappe.enqueue names) by its api_method with the job's arguments as frappe.form_dict.
// The script runs in one transaction as the job's user, with the job's timeout.
func (s *Service) jobHandler(method string) (jobs.Handler, bool) {
	set := s.cur.Load()
	var sc *Script
	if name, ok := strings.CutPrefix(method, schedPrefix); ok {
		for _, x := range set.scheduled {
			if x.Name == name {
				sc = x
			}
		}
	} else {
		sc = set.api[method]
	}
	if sc == nil {
		return nil, false
	}
	return func(j *jobs.Job) error {
		return j.Run(true, func(c *doc.Context) error {
			_, err := s.run(c, sc, j.Timeout, runArgs{form: j.Args, task: j.ID})
			return err
		})
	}, true
}

func secondsOf(n int64) time.Duration { return time.Duration(n) * time.Second }
