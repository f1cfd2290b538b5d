// Package compose holds the check of docker-compose.yml: people with Docker run the whole
// stack from it, and no Docker engine runs in CI, so the file is verified by loading it with
// the compose specification's own loader.
package compose
