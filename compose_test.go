// Package outreach_test checks the files at the root of the repository that
// no Go package owns: docker-compose.yml, the Dockerfile and the README.
package outreach_test

import (
	"bufio"
	"context"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/backlinkoutreach/outreach/internal/config"
)

// secrets are the variables docker-compose.yml requires from .env.
var secrets = map[string]string{
	"POSTGRES_PASSWORD":  "compose-test-password",
	"UNSUBSCRIBE_SECRET": "compose-test-unsubscribe-secret-0123456789",
}

// composeMu serialises loads: compose-go keeps package-level state that is
// not safe for concurrent use.
var composeMu sync.Mutex

func loadCompose(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	composeMu.Lock()
	defer composeMu.Unlock()
	env = maps.Clone(env) // the loader writes COMPOSE_PROJECT_NAME into it
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(wd, "docker-compose.yml")}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("outreach", true) })
}

// The services that run our own image, and the subcommand each runs.
var appServices = map[string]string{"migrate": "migrate", "api": "serve", "worker": "worker"}

func TestComposeServicesAndDependencies(t *testing.T) {
	t.Parallel()
	p, err := loadCompose(t, secrets)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	for _, name := range []string{"postgres", "temporal", "temporal-ui", "mailpit", "migrate", "api", "worker"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}

	want := map[string]map[string]string{
		"temporal":    {"postgres": types.ServiceConditionHealthy},
		"temporal-ui": {"temporal": types.ServiceConditionHealthy},
		"migrate":     {"postgres": types.ServiceConditionHealthy},
		"api":         {"migrate": types.ServiceConditionCompletedSuccessfully, "temporal": types.ServiceConditionHealthy},
		"worker": {
			"migrate": types.ServiceConditionCompletedSuccessfully, "temporal": types.ServiceConditionHealthy,
			"mailpit": types.ServiceConditionHealthy,
		},
	}
	for svc, deps := range want {
		for dep, cond := range deps {
			got, ok := p.Services[svc].DependsOn[dep]
			if !ok || got.Condition != cond {
				t.Errorf("%s should depend on %s with %s, got %+v", svc, dep, cond, got)
			}
		}
	}

	// Every dependency waits on a real signal: a health check, or the clean
	// exit of a one-shot service.
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				hc := target.HealthCheck
				if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
					t.Errorf("%s waits for %s to be healthy, but %s has no health check", name, dep, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != types.RestartPolicyNo {
					t.Errorf("%s is a one-shot dependency of %s and must not restart (restart: %q)", dep, name, target.Restart)
				}
			default:
				t.Errorf("%s depends on %s with condition %q: wait for health or completion instead", name, dep, d.Condition)
			}
		}
	}

	// Images are pinned to a version; ours are built from the Dockerfile
	// and run the right subcommand.
	for name, s := range p.Services {
		if cmd, ours := appServices[name]; ours {
			if s.Build == nil || s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("%s must be built from the project's Dockerfile: %+v", name, s.Build)
			}
			if !slices.Equal(s.Command, types.ShellCommand{cmd}) {
				t.Errorf("%s runs %v, want [%s]", name, s.Command, cmd)
			}
			continue
		}
		if !pinned(s.Image) {
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		}
	}

	// PostgreSQL keeps its data in a named volume.
	var pgVolume bool
	for _, v := range p.Services["postgres"].Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/postgresql/data" {
			_, pgVolume = p.Volumes[v.Source]
		}
	}
	if !pgVolume {
		t.Error("postgres must keep /var/lib/postgresql/data in a named volume")
	}
}

func pinned(image string) bool {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "latest" && regexp.MustCompile(`\d+\.\d+`).MatchString(tag)
}

// The environment handed to the API, the workers and the migration is a
// valid configuration, names only variables the config reads, and covers
// all of them (the DEV_* ones belong to `outreach dev` only).
func TestComposeEnvironmentMatchesConfig(t *testing.T) {
	t.Parallel()
	p, err := loadCompose(t, secrets)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	known := map[string]bool{}
	for _, v := range config.Vars() {
		known[v.Name] = true
	}
	for name := range appServices {
		s := p.Services[name]
		env := map[string]string{}
		for k, v := range s.Environment {
			if !known[k] {
				t.Errorf("%s: %s is not a variable the config reads", name, k)
			}
			if v == nil {
				t.Errorf("%s: %s has no value", name, k)
				continue
			}
			env[k] = *v
		}
		for _, v := range config.Vars() {
			if _, ok := env[v.Name]; !ok && !strings.HasPrefix(v.Name, "DEV_") {
				t.Errorf("%s: %s is neither set nor passed through", name, v.Name)
			}
		}
		cfg, err := config.LoadFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Errorf("%s: the container's configuration does not load: %v", name, err)
			continue
		}
		if cfg.UsesSQLite() || cfg.LogFormat != "json" || cfg.UnsubscribeSecret != secrets["UNSUBSCRIBE_SECRET"] {
			t.Errorf("%s: want PostgreSQL, JSON logs and the shared unsubscribe secret: %+v", name, cfg)
		}
		if host, _, _ := net.SplitHostPort(cfg.HTTPAddr); host != "0.0.0.0" {
			t.Errorf("%s: HTTP_ADDR %s is not reachable from outside the container", name, cfg.HTTPAddr)
		}
		// The addresses point at services of this file.
		u, err := url.Parse(cfg.DatabaseURL)
		if err != nil || u.Hostname() != "postgres" || u.Path != "/outreach" {
			t.Errorf("%s: DATABASE_URL should reach the postgres service's outreach database: %q", name, cfg.DatabaseURL)
		}
		if pw, _ := u.User.Password(); pw != secrets["POSTGRES_PASSWORD"] {
			t.Errorf("%s: DATABASE_URL does not carry POSTGRES_PASSWORD", name)
		}
		if host, _, _ := net.SplitHostPort(cfg.TemporalAddress); host != "temporal" {
			t.Errorf("%s: TEMPORAL_ADDRESS %s is not the temporal service", name, cfg.TemporalAddress)
		}
		if cfg.SMTPHost != "mailpit" || cfg.SMTPPort != 1025 || cfg.SMTPTLS != "none" {
			t.Errorf("%s: SMTP should go to mailpit:1025 in the trial setup, got %s:%d (%s)", name, cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPTLS)
		}
	}
	// Temporal runs on the same PostgreSQL with the same password.
	tenv := p.Services["temporal"].Environment
	if v := tenv["POSTGRES_SEEDS"]; v == nil || *v != "postgres" {
		t.Error("temporal should use the postgres service")
	}
	if v := tenv["POSTGRES_PWD"]; v == nil || *v != secrets["POSTGRES_PASSWORD"] {
		t.Error("temporal should use POSTGRES_PASSWORD")
	}
}

// Operators set variables through .env: an override reaches the services.
func TestComposePassesOverridesThrough(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SMTP_HOST": "smtp.example.net", "SMTP_TLS": "starttls", "USER_DAILY_CAP": "40", "IMAP_HOST": "imap.example.net"}
	for k, v := range secrets {
		env[k] = v
	}
	p, err := loadCompose(t, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"api", "worker"} {
		e := p.Services[name].Environment
		for k, want := range map[string]string{"SMTP_HOST": "smtp.example.net", "SMTP_TLS": "starttls", "USER_DAILY_CAP": "40", "IMAP_HOST": "imap.example.net"} {
			if got := e[k]; got == nil || *got != want {
				t.Errorf("%s: %s not passed through", name, k)
			}
		}
	}
}

// Without the two secrets the file refuses to load, naming the variable,
// instead of starting with an empty password.
func TestComposeRequiresSecrets(t *testing.T) {
	t.Parallel()
	for missing := range secrets {
		env := map[string]string{}
		for k, v := range secrets {
			if k != missing {
				env[k] = v
			}
		}
		_, err := loadCompose(t, env)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: got %v", missing, err)
		}
	}
}

// dockerStages splits a Dockerfile into its stages, joining continued lines.
func dockerStages(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var stages [][]string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		instr := cur.String()
		cur.Reset()
		if strings.HasPrefix(strings.ToUpper(instr), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], instr)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := dockerStages(t)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	build := strings.Join(stages[0], "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/outreach", "golang:"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	runtime := stages[len(stages)-1]
	var user, entrypoint string
	for _, in := range runtime {
		fields := strings.Fields(in)
		switch strings.ToUpper(fields[0]) {
		case "USER":
			user = fields[1]
		case "ENTRYPOINT":
			entrypoint = in
		case "FROM":
			if img := fields[1]; !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") {
				t.Errorf("runtime base %q is not pinned", img)
			}
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if user == "" || name == "root" || name == "0" {
		t.Errorf("runtime stage must switch to a non-root USER, got %q", user)
	}
	if !strings.Contains(entrypoint, "outreach") {
		t.Errorf("runtime entrypoint should be the outreach binary: %q", entrypoint)
	}
	// The build context leaves out local state and the 100+ MB Temporal CLI.
	ignore, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", ".tools", ".data", ".env"} {
		if !slices.Contains(strings.Fields(string(ignore)), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
