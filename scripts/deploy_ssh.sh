#!/usr/bin/env bash
# Deploys this checkout to a remote Docker host over SSH and (re)starts it with
# docker compose (GhostTalk + coturn, host networking). See DEPLOY.md.
#
#   scripts/deploy_ssh.sh user@host [remote_dir]
#
# remote_dir defaults to ~/ghosttalk. The remote needs Docker with the compose plugin,
# and in remote_dir a ghosttalk.env (from config/ghosttalk.env.example) and a
# turnserver.conf (from config/turnserver.conf.example); they are never overwritten.
# SSH_OPTS adds ssh options, e.g. SSH_OPTS="-p 2222 -i ~/.ssh/deploy".
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { usage; exit 0; }
[[ $# -ge 1 && $# -le 2 ]] || { usage >&2; exit 2; }

target="$1"
remote_dir="${2:-ghosttalk}"
# shellcheck disable=SC2206 # word splitting of SSH_OPTS is intended
ssh_opts=(${SSH_OPTS:-})
remote() { ssh "${ssh_opts[@]}" "$target" "$@"; }
log() { printf '[deploy] %s\n' "$*" >&2; }

command -v git >/dev/null || { log "git is required"; exit 2; }
revision="$(git rev-parse --short HEAD)"
if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
  log "warning: uncommitted changes are not deployed (deploying $revision)"
fi

log "checking $target"
remote "docker compose version >/dev/null && mkdir -p '$remote_dir'"

log "copying $revision to $target:$remote_dir"
git archive --format=tar HEAD | remote "tar -x -C '$remote_dir'"

log "checking settings on the remote"
remote "cd '$remote_dir' && test -f ghosttalk.env && test -f turnserver.conf" || {
  log "missing $remote_dir/ghosttalk.env or turnserver.conf on $target:"
  log "  copy config/ghosttalk.env.example and config/turnserver.conf.example there and edit them"
  exit 2
}

log "building and starting"
remote "cd '$remote_dir' && docker compose up -d --build --remove-orphans"

log "waiting for /healthz"
# The image's own health probe: it knows PORT and whether TLS is on, wherever they are set.
for _ in $(seq 1 30); do
  if remote "cd '$remote_dir' && docker compose exec -T ghosttalk node scripts/healthcheck.ts"; then
    log "GhostTalk $revision is up on $target"
    exit 0
  fi
  sleep 2
done
log "no healthy answer after 60 s; recent logs:"
remote "cd '$remote_dir' && docker compose logs --tail=50 ghosttalk" || true
exit 1
