// Command pulumi-language-python is the rehearsal tier's Python language host.
//
// The real one (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is its own Go
// module, and the Go module proxy does not serve it ("403 Forbidden: This module version is not
// available"). What it does is small and documented: it serves the LanguageRuntime gRPC service
// (sdk/v3/proto/go), resolves the Python toolchain from Pulumi.yaml's runtime options with the
// SDK's own `python/toolchain` package, and runs the program through the `pulumi-language-python-
// exec` script that ships in the sdk/v3 module (copied beside this binary by build.sh), with the
// configuration in PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS. Policy packs run as
// `python -m pulumi.policy <engine> <pack dir>`, the entry point the Python SDK provides for them.
//
// It implements only what the engine calls for `preview`, `up`, `destroy` and policy packs; the
// rest (code generation, `pulumi new` prompts, packing) answers Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Set by build.sh: the pulumi version whose sdk/v3 module provided the exec script.
var version = "dev"

// The exec script's exit code meaning "an error was already shown to the user" (the script's
// PYTHON_PROCESS_EXITED_AFTER_SHOWING_USER_ACTIONABLE_MESSAGE_CODE).
const exitAfterUserMessage = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engine string
	exec   string
}

func main() {
	flag.String("tracing", "", "ignored: tracing endpoint")
	flag.Parse()
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	script := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(script); err != nil {
		fail(fmt.Errorf("the exec script is missing beside the language host: %w", err))
	}
	h := &host{exec: script}
	if flag.NArg() > 0 {
		h.engine = flag.Arg(0)
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fail(err)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engine = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// Plugins come from Pulumi.yaml's `plugins:` entries; nothing is acquired automatically.
func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// pythonToolchain resolves Pulumi.yaml's `runtime.options` (toolchain, virtualenv) as the real
// host does, with the SDK's toolchain package.
func pythonToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Pip,
	}
	fields := map[string]*structpb.Value{}
	if info.GetOptions() != nil {
		fields = info.GetOptions().GetFields()
	}
	if v, ok := fields["virtualenv"]; ok {
		opts.Virtualenv = v.GetStringValue()
	}
	if v, ok := fields["toolchain"]; ok {
		switch v.GetStringValue() {
		case "pip", "":
			opts.Toolchain = toolchain.Pip
		case "uv":
			opts.Toolchain = toolchain.Uv
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		default:
			return nil, fmt.Errorf("unsupported Python toolchain %q", v.GetStringValue())
		}
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	args := []string{"-u", h.exec}
	add := func(key, value string) {
		if value != "" {
			args = append(args, "--"+key, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engine)
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprintf("%v", req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("organization", req.GetOrganization())
	add("root_directory", req.GetInfo().GetRootDirectory())
	program := req.GetInfo().GetEntryPoint()
	if program == "" {
		program = "."
	}
	args = append(args, filepath.Join(req.GetInfo().GetProgramDirectory(), program))
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == exitAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs a Python policy pack (PulumiPolicy.yaml, runtime python), streaming its output.
func (h *host) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	if req.GetKind() != "analyzer" {
		return fmt.Errorf("only policy packs run through this language host, not %q plugins",
			req.GetKind())
	}
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	args := append(append([]string{}, req.GetArgs()...), req.GetInfo().GetProgramDirectory())
	cmd, err := tc.ModuleCommand(server.Context(), "pulumi.policy", args...)
	if err != nil {
		return err
	}
	cmd.Dir = req.GetPwd()
	// The engine hands the plugin's whole environment; activate the virtualenv in it.
	cmd.Env = req.GetEnv()
	if venv, err := tc.VirtualEnvPath(server.Context()); err == nil && venv != "" {
		cmd.Env = toolchain.ActivateVirtualEnv(cmd.Env, venv)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	stream := func(r io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse, done chan<- struct{}) {
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				_ = server.Send(wrap(append([]byte{}, buf[:n]...)))
			}
			if err != nil {
				close(done)
				return
			}
		}
	}
	outDone, errDone := make(chan struct{}), make(chan struct{})
	go stream(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	}, outDone)
	go stream(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	}, errDone)
	<-outDone
	<-errDone
	code := 0
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		code = exit.ExitCode()
	}
	return server.Send(&pulumirpc.RunPluginResponse{
		Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)},
	})
}

// About names the interpreter, for `pulumi about`.
func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    strings.TrimPrefix(info.PythonVersion.String(), "v"),
	}, nil
}
