package assets

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	t.Setenv(EnvVar, "/some/cache")
	if d, err := Dir(); err != nil || d != "/some/cache" {
		t.Errorf("Dir() with %s set = %q, %v", EnvVar, d, err)
	}
	home := t.TempDir()
	t.Setenv(EnvVar, "")
	t.Setenv("HOME", home)
	if d, err := Dir(); err != nil || d != filepath.Join(home, ".cache", "layervis") {
		t.Errorf("Dir() = %q, %v; want $HOME/.cache/layervis", d, err)
	}
}

// fakeCache writes a cache with the given files (path → content) and
// points LAYERVIS_CACHE at it.
func fakeCache(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvVar, dir)
	return dir
}

func TestMissing(t *testing.T) {
	eighty := strings.Repeat("name\n", 80)
	cases := []struct {
		name  string
		files map[string]string
		call  func() error
		want  string // part of the error; "" for success
	}{
		{"empty cache: model", nil, func() error { _, err := DemoModel(); return err }, "demo model file centernet.json missing"},
		{"empty cache: photos", nil, func() error { _, err := DemoPhotos(); return err }, "demo photos missing"},
		{"empty cache: photo", nil, func() error { _, err := DemoPhoto("dog.jpg"); return err }, "demo photo dog.jpg missing"},
		{"empty cache: names", nil, func() error { _, err := COCONames(); return err }, "COCO class names missing"},
		{"model without NOTICE", map[string]string{"demo/model/centernet.json": "{}", "demo/model/centernet.bin": "",
			"demo/model/LICENSE": "MIT"}, func() error { _, err := DemoModel(); return err }, "NOTICE missing"},
		{"model complete", map[string]string{"demo/model/centernet.json": "{}", "demo/model/centernet.bin": "",
			"demo/model/LICENSE": "MIT", "demo/model/NOTICE": "x"}, func() error { _, err := DemoModel(); return err }, ""},
		{"no photo files", map[string]string{"demo/photos/README": "x"}, func() error { _, err := DemoPhotos(); return err },
			"no .jpg or .png file"},
		{"79 names", map[string]string{"demo/coco.names": strings.Repeat("name\n", 79)},
			func() error { _, err := COCONames(); return err }, "holds 79 names, want 80"},
		{"80 names, blank lines ignored", map[string]string{"demo/coco.names": eighty + "\n\n"},
			func() error { _, err := COCONames(); return err }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fakeCache(t, tc.files)
			err := tc.call()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(tc.want, "missing") && !strings.Contains(err.Error(), "scripts/fetch-assets.sh") {
				t.Errorf("error %q does not say to run scripts/fetch-assets.sh", err)
			}
		})
	}
}

func TestPhotosSorted(t *testing.T) {
	fakeCache(t, map[string]string{"demo/photos/b.png": "", "demo/photos/a.JPG": "", "demo/photos/c.txt": ""})
	got, err := DemoPhotos()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || filepath.Base(got[0]) != "a.JPG" || filepath.Base(got[1]) != "b.png" {
		t.Errorf("DemoPhotos() = %v", got)
	}
}

// requireAssets skips the test if the real assets are missing, except under
// CI, where it fails.
func requireAssets(t *testing.T) string {
	t.Helper()
	dir, err := Dir()
	if err == nil {
		_, err = DemoModel()
	}
	if err == nil {
		_, err = COCONames()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v\nCI must fetch the demo assets first: run scripts/fetch-assets.sh", err)
		}
		t.Skip(err)
	}
	return dir
}

// TestFetchedAssets checks the fetched cache against its SOURCES.tsv: every
// listed file exists with its sha256, 22 photos, 80 COCO names in the
// model's order.
func TestFetchedAssets(t *testing.T) {
	dir := requireAssets(t)
	f, err := os.Open(filepath.Join(dir, "demo", "SOURCES.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	rows := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 5 {
			t.Fatalf("SOURCES.tsv line %q: %d columns, want 5", sc.Text(), len(cols))
		}
		if cols[0] == "file" {
			continue
		}
		rows++
		b, err := os.ReadFile(filepath.Join(dir, "demo", cols[0]))
		if err != nil {
			t.Error(err)
			continue
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != cols[1] {
			t.Errorf("%s: sha256 %x, SOURCES.tsv says %s", cols[0], sum, cols[1])
		}
		if cols[2] == "" || cols[4] == "" {
			t.Errorf("%s: no origin or licence", cols[0])
		}
	}
	if rows != 27 {
		t.Errorf("SOURCES.tsv lists %d files, want 27 (3 model files, NOTICE, 22 photos, coco.names)", rows)
	}
	photos, err := DemoPhotos()
	if err != nil || len(photos) != 22 {
		t.Errorf("DemoPhotos() = %d photos, %v; want 22", len(photos), err)
	}
	names, err := COCONames()
	if err != nil {
		t.Fatal(err)
	}
	if names[0] != "person" || names[15] != "cat" || names[16] != "dog" || names[17] != "horse" || names[79] != "toothbrush" {
		t.Errorf("COCO names out of order: %v", names)
	}
}

// script returns the path of scripts/fetch-assets.sh.
func script(t *testing.T) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", "scripts", "fetch-assets.sh")
}

// TestFetchScript runs scripts/fetch-assets.sh on a copy of the fetched
// cache: with everything in place it does nothing (no npm, no apt needed);
// with a photo missing and no apt-get it names the missing tool; with a
// file altered it notices, and, as root, installs a missing npm.
func TestFetchScript(t *testing.T) {
	src := requireAssets(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	cache := t.TempDir()
	if err := os.CopyFS(filepath.Join(cache, "demo"), os.DirFS(filepath.Join(src, "demo"))); err != nil {
		t.Fatal(err)
	}
	// A PATH with the basic tools but neither npm nor apt-get.
	bin := t.TempDir()
	for _, tool := range []string{"bash", "sha256sum", "cut", "mkdir", "mktemp", "rm", "id", "cat", "ls", "head", "cp", "mv", "tar"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	run := func() (string, error) {
		cmd := exec.Command(bash, script(t), cache)
		cmd.Env = append(os.Environ(), "PATH="+bin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, "up to date (26 files verified)") {
		t.Fatalf("complete cache: %v\n%s", err, out)
	}
	if err := os.Remove(filepath.Join(cache, "demo", "photos", "dog.jpg")); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err == nil || !strings.Contains(out, "apt-get not found") {
		t.Errorf("missing photo without apt-get: %v\n%s", err, out)
	}
	dog, err := os.ReadFile(filepath.Join(src, "demo", "photos", "dog.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "demo", "photos", "dog.jpg"), dog, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "demo", "model", "centernet.bin"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err == nil || !strings.Contains(out, "npm not found") {
		t.Errorf("altered model without npm: %v\n%s", err, out)
	}
	if os.Getuid() != 0 {
		return
	}
	// As root with apt-get, a missing npm is installed (make demo needs
	// it): a stub apt-get records the call and installs an npm that fails.
	log := filepath.Join(t.TempDir(), "apt.log")
	stub := "#!/bin/bash\necho \"$@\" >> " + log + "\nprintf '#!/bin/bash\\nexit 1\\n' > " + bin + "/npm\n/bin/chmod +x " + bin + "/npm\n"
	if err := os.WriteFile(filepath.Join(bin, "apt-get"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := run()
	calls, _ := os.ReadFile(log)
	if err == nil || !strings.Contains(string(calls), "install") || !strings.Contains(string(calls), " npm") ||
		!strings.Contains(out, "npm pack @vladmandic/human@3.3.6 failed") {
		t.Errorf("altered model, no npm, root with apt-get: %v; apt-get calls %q\n%s", err, calls, out)
	}
}
