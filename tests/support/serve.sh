# serve.sh: sourced by the shell tests and the benchmark (not run alone):
# serve_start (a llmtap server) and fake_start (the fake LLM upstream).
# serve_start LLMTAP DB LOG [ARG...]: start `LLMTAP serve --db DB --listen
# 127.0.0.1:0 ARG...` in the background with its output in LOG; sets $pid at
# once and $url once
# DB.server names it. Returns 0, or 1 when no URL appeared within 10 s (the
# server died or hung; its log is in LOG).
serve_start() {
    _bin=$1
    _db=$2
    _log=$3
    shift 3
    "$_bin" serve --db "$_db" --listen 127.0.0.1:0 "$@" >"$_log" 2>&1 &
    pid=$!
    set -- "$_bin" "$_db" "$_log"
    url=""
    _i=0
    while [ $_i -lt 200 ]; do # 10 s
        if [ -s "$2.server" ]; then
            url=$(sed -n 's/.*"url" *: *"\([^"]*\)".*/\1/p' "$2.server")
            [ -n "$url" ] && return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
        _i=$((_i + 1))
    done
    return 1
}

# fake_start FAKE LOG: start the fake LLM upstream FAKE on 127.0.0.1:0 in
# the background with its output in LOG; sets $fake at once and $fake_url
# once it says where it listens. Returns 0, or 1 when no URL appeared
# within 10 s.
fake_start() {
    "$1" --listen 127.0.0.1:0 >"$2" 2>&1 &
    fake=$!
    fake_url=""
    _i=0
    while [ -z "$fake_url" ] && [ $_i -lt 200 ]; do
        fake_url=$(sed -n 's/^fakeup listening on \(http:[^ ]*\).*/\1/p' "$2")
        [ -n "$fake_url" ] || sleep 0.05
        _i=$((_i + 1))
    done
    [ -n "$fake_url" ]
}
