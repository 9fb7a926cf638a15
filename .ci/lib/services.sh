# Starts the real servers the connector tests talk to, on loopback, for the life of the shell:
# OpenSSH's sshd (SFTP), s3s-fs (S3 on a folder) and Azurite (Microsoft's Azure Blob emulator).
# Exports the FERRY_TEST_SFTP_*, FERRY_TEST_S3_* and FERRY_TEST_AZURE_* variables the Rust and
# browser tests read.
# Sourced, not run. Needs common.sh.

# Waits up to 10 s for a server to listen on a loopback port.
wait_for_port() {
  for _ in $(seq 1 100); do
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

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
  wait_for_port "$port" || { cat "$dir.log" >&2; die "s3s-fs did not start"; }
  export FERRY_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  export FERRY_TEST_S3_ACCESS_KEY=ferry-test-key
  export FERRY_TEST_S3_SECRET_KEY=ferry-test-secret
  export FERRY_TEST_S3_BUCKET=ferry-test-bucket
  export FERRY_TEST_S3_ROOT="$dir"
  note "s3s-fs (S3) on 127.0.0.1:$port, bucket ferry-test-bucket"
}

start_test_azure() {
  local azurite="$FERRY_ROOT/.ci/tools/azurite/node_modules/.bin/azurite-blob"
  [ -x "$azurite" ] || die "Azurite is not installed (run .ci/setup --tests)"
  local dir port key
  dir="$(mktemp -d /tmp/ferry-azure.XXXXXX)"
  port="$(free_port)"
  # Azurite's well-known development account (public, documented by Microsoft).
  key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
  "$azurite" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir" --disableTelemetry \
    --skipApiVersionCheck >"$dir.log" 2>&1 &
  local pid=$!
  on_exit "kill $pid 2>/dev/null; rm -rf '$dir' '$dir.log'"
  wait_for_port "$port" || { cat "$dir.log" >&2; die "Azurite did not start"; }
  export FERRY_TEST_AZURE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$port/devstoreaccount1;"
  export FERRY_TEST_AZURE_CONTAINER=ferry-test-container
  "$FERRY_ROOT/.ci/tools/py/bin/python" - <<PY || die "cannot create the Azurite container"
from azure.storage.blob import BlobServiceClient
BlobServiceClient.from_connection_string("$FERRY_TEST_AZURE_CONNECTION_STRING").create_container("ferry-test-container")
PY
  note "Azurite (Azure Blob) on 127.0.0.1:$port, container ferry-test-container"
}
