package explain

import (
	"strings"
	"testing"
)

// Credentials are blanked wherever they are — env values by name (any case, any position),
// URL passwords, the value after a credential flag (separate or with =), NAME=value in a shell
// line — and other values kept; kubectl's last-applied copy and managedFields are dropped.
func TestEncodeRedacts(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{lastApplied: `{"env":[{"name":"HF_TOKEN","value":"hf_x"}]}`}, "managedFields": []any{"m"}},
		"env": []any{
			map[string]any{"name": "HF_TOKEN", "value": "hf_x"},
			map[string]any{"name": "AWS_SECRET_ACCESS_KEY", "value": "aws_x"},
			map[string]any{"name": "db_password", "value": "pw_x"},
			map[string]any{"name": "PGPASSWORD", "value": "pg_x"},
			map[string]any{"name": "dbpass", "value": "dbpass_x"},
			map[string]any{"name": "MYSQL_PWD", "value": "pwd_x"},
			map[string]any{"name": "APIKEY", "value": "apikey_x"},
			map[string]any{"name": "GCP_CREDENTIALS", "value": "cred_x"},
			map[string]any{"name": "DATABASE_URL", "value": "postgres://app:hunter2@db:5432/x"},
			map[string]any{"name": "DYN_LOG", "value": "keep-1"},
			map[string]any{"name": "MODEL", "value": "keep-2"},
			map[string]any{"name": "API_KEY", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "s", "key": "k"}}},
		},
		"args":        []any{"--model", "keep-3", "--api-key", "sk-separate", "--hf-token=hf_equals", "--block-size", "32"},
		"command":     []any{"/bin/sh", "-c", "export MY_SECRET=shell_x && python3 -m dynamo.vllm --password pw_flag --port 8000"},
		"tolerations": []any{map[string]any{"key": "nvidia.com/gpu", "operator": "Exists"}},
	}
	b, err := encode("x.yaml", obj)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, leaked := range []string{"hf_x", "aws_x", "pw_x", "pg_x", "dbpass_x", "pwd_x", "apikey_x", "cred_x", "hunter2",
		"sk-separate", "hf_equals", "shell_x", "pw_flag", lastApplied, "managedFields"} {
		if strings.Contains(out, leaked) {
			t.Errorf("%q in the bundle:\n%s", leaked, out)
		}
	}
	for _, kept := range []string{"keep-1", "keep-2", "keep-3", "secretKeyRef", "postgres://app:REDACTED@db:5432/x", "--block-size", "\"32\"",
		"--port 8000", "key: nvidia.com/gpu"} {
		if !strings.Contains(out, kept) {
			t.Errorf("%q dropped:\n%s", kept, out)
		}
	}
	// The operator's log is text: the same patterns.
	log, err := encode("operator.log", "connecting to https://u:s3cret@registry.example with --token abc123; DB_PASSWORD=zzz ok\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, leaked := range []string{"s3cret", "abc123", "zzz"} {
		if strings.Contains(string(log), leaked) {
			t.Errorf("%q in the log: %s", leaked, log)
		}
	}
}
