//! End-to-end tests of `idpush push` against real components: a private dockerd and a plain-HTTP
//! distribution registry started by `scripts/test-env.sh start` (which writes the env file these
//! tests read), with the docker CLI and skopeo as independent checkers.
//!
//! Run them all with `scripts/test.sh`. Without a running environment every e2e test fails with
//! a message saying to run `scripts/test-env.sh start`.

mod auth;
mod build;
mod build_base;
mod build_json;
mod cache;
mod containerd;
mod corpus;
mod daemon_tls;
mod engine25;
mod engines;
mod errors;
mod fake_daemon;
mod fault_proxy;
mod faults;
mod hints;
mod http;
mod logging;
mod loopback_tls;
mod listing;
mod lying;
mod memory;
mod podman;
mod progress;
mod push;
mod resume;
mod roundtrips;
mod settings;
mod signals;
mod snapshots;
mod source;
mod sources;
mod stream;
mod ssh;
mod support;
mod tls;
mod token_server;

#[test]
fn env_file_lines_parse() {
    let vars = support::parse_env_lines(
        "# comment\nDOCKER_HOST=unix:///tmp/x/docker.sock\nexport IDPUSH_TEST_REGISTRY='127.0.0.1:5100'\n\nA=\"b c\"\n",
    );
    assert_eq!(vars["DOCKER_HOST"], "unix:///tmp/x/docker.sock");
    assert_eq!(vars["IDPUSH_TEST_REGISTRY"], "127.0.0.1:5100");
    assert_eq!(vars["A"], "b c");
}
