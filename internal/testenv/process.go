package testenv

// The system's commands as OS processes: built from this repository, started with an
// environment of their own, stopped with SIGTERM or SIGKILL. The fault suite and the benchmark
// run the worker this way, as it runs in production.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Proc is one OS process started by StartProc, in its own process group, its output in a log file.
type Proc struct {
	Name string
	Log  string // the log file's path
	cmd  *exec.Cmd
	done chan struct{}
	err  error // how it exited, once done is closed
}

// StartProc starts bin with args and env (added to this process's environment, later entries
// winning), its stdout and stderr appended to logPath.
func StartProc(name, bin string, args []string, env map[string]string, logPath string) (*Proc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own group, so a kill reaches every child; and never outliving its parent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process exited, once Exited.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Kill sends SIGKILL to the process group and waits for the process to be gone.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then kills it. It reports
// whether the process exited by itself.
func (p *Proc) Stop(grace time.Duration) bool {
	if p.Exited() {
		return true
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// Tail is the end of the process's log, for failure messages.
func (p *Proc) Tail(lines int) string {
	data, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// AwaitHTTP polls url until it answers 200, the process exits, or limit passes.
func AwaitHTTP(p *Proc, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited (%v) before %s answered; log:\n%s", p.Name, p.err, url, p.Tail(30))
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s did not answer 200 within %s (last: %s); log:\n%s", p.Name, url, limit, last, p.Tail(30))
}

// BuildCommands builds the repository's commands (packages such as "./worker") into dir, one
// binary each, named after its folder.
func BuildCommands(dir string, packages ...string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, packages...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(packages, " "), err, out)
	}
	return nil
}
