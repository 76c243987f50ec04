package cluster_test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A background job survives the SIGKILL of the node running it: its lease runs out (3 s in these
// nodes) and another node's worker takes it again and finishes it. The job is an API Server Script
// enqueued by another one, as an app would do it.
func TestJobSurvivesTheKillOfItsNode(t *testing.T) {
	requireCluster(t)
	c := newCluster(t, 3)
	first := c.nodes[0]
	for _, sc := range []map[string]any{
		{"name": "LD Slow", "script_type": "API", "api_method": "ld_slow",
			"script": "const until = Date.now() + 2000; while (Date.now() < until) {}\n" +
				"const d = frappe.new_doc('Customer'); d.customer_name = frappe.form_dict.marker; d.insert();"},
		{"name": "LD Start", "script_type": "API", "api_method": "ld_start",
			"script": "frappe.response['message'] = frappe.enqueue('ld_slow', {marker: frappe.form_dict.marker});"},
	} {
		c.mustDo(first, "POST", "/api/resource/Server%20Script", sc, nil)
	}
	const marker = "job survivor"
	var started struct{ Message string }
	c.mustDo(first, "POST", "/api/method/ld_start", map[string]any{"marker": marker}, &started)
	if started.Message == "" {
		t.Fatal("ld_start returned no job id")
	}
	type job struct{ Status, Worker string }
	jobOf := func(n *node) (job, error) {
		var out struct{ Data job }
		_, err := c.do(n, nil, "GET", "/api/resource/RQ%20Job/"+url.PathEscape(started.Message), nil, &out)
		return out.Data, err
	}
	// The worker field is host.pid.x: the node whose process runs the job.
	var victim *node
	waitUntil(t, 20*time.Second, func() string { return "the job never started" }, func() bool {
		j, err := jobOf(first)
		if err != nil || j.Status != "started" {
			return false
		}
		parts := strings.Split(j.Worker, ".")
		if len(parts) < 3 {
			t.Fatalf("worker %q names no process", j.Worker)
		}
		pid, _ := strconv.Atoi(parts[len(parts)-2])
		for _, n := range c.nodes {
			if n.cmd.Process.Pid == pid {
				victim = n
			}
		}
		return victim != nil
	})
	victim.kill(t)
	survivor := c.nodes[(victim.i+1)%len(c.nodes)]
	waitUntil(t, 30*time.Second, func() string {
		j, err := jobOf(survivor)
		return fmt.Sprintf("the job did not finish after its node died: %+v %v", j, err)
	}, func() bool {
		j, err := jobOf(survivor)
		return err == nil && j.Status == "finished" && !strings.Contains(j.Worker, fmt.Sprintf(".%d.", victim.cmd.Process.Pid))
	})
	var customer struct {
		Data struct {
			CustomerName string `json:"customer_name"`
		}
	}
	c.mustDo(survivor, "GET", "/api/resource/Customer/"+url.PathEscape(marker), nil, &customer)
	if customer.Data.CustomerName != marker {
		t.Fatalf("the job's work is not there: %+v", customer)
	}
}
