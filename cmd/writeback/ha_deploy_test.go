package main

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/config"
)

// The HA manifest's configuration loads, keeps the state in PostgreSQL with
// the server verified, and runs two replicas.
func TestKubernetesHAManifest(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes-ha.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var cfgs, replicas int
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				Replicas int `yaml:"replicas"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc.Kind {
		case "ConfigMap":
			cfgs++
			c, err := config.Parse([]byte(doc.Data["writeback.yaml"]))
			if err != nil {
				t.Fatalf("the ConfigMap's writeback.yaml: %v", err)
			}
			p := c.State.Postgres
			if p == nil || !strings.Contains(p.URL, "sslmode=verify-full") || !p.Password.IsSet() {
				t.Errorf("state.postgres %+v: want a verified URL and a password", p)
			}
		case "Deployment":
			replicas = doc.Spec.Replicas
		}
	}
	if cfgs != 1 || replicas != 2 {
		t.Errorf("%d ConfigMaps, %d replicas; want 1 and 2", cfgs, replicas)
	}
}
