# Starts the real servers the connector tests talk to, on loopback, for the life of the shell:
# OpenSSH's sshd (SFTP) and s3s-fs (an S3-compatible server on a folder). Exports the
# FERRY_TEST_SFTP_* and FERRY_TEST_S3_* variables the Rust and browser tests read.
# Sourced, not run. Needs common.sh.

start_test_sshd() {
  [ -x /usr/sbin/sshd ] || die "OpenSSH's sshd is not installed (run .ci/setup)"
  local dir port
  dir="$(mktemp -d /tmp/ferry-sshd.XXXXXX)"
  port="$(free_port)"
  mkdir -p /run/sshd 2>/dev/null || as_root mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" -C ferry-test
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  chmod 600 "$dir/authorized_keys"
  mkdir -p "$dir/files/exports"
  cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin yes
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
LogLevel ERROR
CONF
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" || { cat "$dir/sshd.log" >&2; die "sshd did not start"; }
  on_exit "kill \$(cat '$dir/sshd.pid' 2>/dev/null) 2>/dev/null; rm -rf '$dir'"
  export FERRY_TEST_SFTP_HOST=127.0.0.1
  export FERRY_TEST_SFTP_PORT="$port"
  export FERRY_TEST_SFTP_USER="$(id -un)"
  export FERRY_TEST_SFTP_KEY="$dir/client_key"
  export FERRY_TEST_SFTP_FOLDER="$dir/files"
  note "sshd (SFTP) on 127.0.0.1:$port, user $(id -un), folder $dir/files"
}

start_test_s3() {
  command -v s3s-fs >/dev/null || die "s3s-fs is not installed (run .ci/setup)"
  local dir port
  dir="$(mktemp -d /tmp/ferry-s3.XXXXXX)"
  port="$(free_port)"
  mkdir -p "$dir/ferry-test-bucket"
  s3s-fs --host 127.0.0.1 --port "$port" --access-key ferry-test-key --secret-key ferry-test-secret "$dir" >"$dir.log" 2>&1 &
  local pid=$!
  on_exit "kill $pid 2>/dev/null; rm -rf '$dir' '$dir.log'"
  for _ in $(seq 1 50); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$dir.log" >&2; die "s3s-fs did not start"; }
  export FERRY_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  export FERRY_TEST_S3_ACCESS_KEY=ferry-test-key
  export FERRY_TEST_S3_SECRET_KEY=ferry-test-secret
  export FERRY_TEST_S3_BUCKET=ferry-test-bucket
  export FERRY_TEST_S3_ROOT="$dir"
  note "s3s-fs (S3) on 127.0.0.1:$port, bucket ferry-test-bucket"
}
