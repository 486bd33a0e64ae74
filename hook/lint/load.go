package lint

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// manifestSuffixes are the files a directory walk reads: YAML and the Jinja
// templates Airflow's SparkKubernetesOperator renders (application_file).
var manifestSuffixes = []string{".yaml", ".yml", ".yaml.j2", ".yml.j2", ".j2", ".jinja", ".jinja2"}

// Load reads every named file, and every manifest under every named
// directory (hidden directories such as .git are not entered). A path that
// does not exist is an error wrapping fs.ErrNotExist.
func Load(paths []string) ([]Source, error) {
	var out []Source
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", p, err)
		}
		if !info.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("check %s: %w", p, err)
			}
			out = append(out, Source{Name: p, Data: data})
			continue
		}
		var names []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			for _, s := range manifestSuffixes {
				if strings.HasSuffix(d.Name(), s) {
					names = append(names, path)
					break
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", p, err)
		}
		sort.Strings(names)
		for _, n := range names {
			data, err := os.ReadFile(n)
			if err != nil {
				return nil, fmt.Errorf("check %s: %w", n, err)
			}
			out = append(out, Source{Name: n, Data: data})
		}
	}
	return out, nil
}
