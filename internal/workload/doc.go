// Package workload owns what every runtime gives a workload alike, so that
// the native sandbox and gVisor cannot drift apart:
//
//   - its identity: the spec's user and supplementary groups resolved in the
//     container's /etc/passwd and /etc/group (Resolve);
//   - its default environment (Env, WithUser);
//   - the host directories a rootfs = "" container sees (HostView);
//   - where a credential is read from and how large it may be
//     (CredentialSource, ReadCredential);
//   - the exit statuses of a command that cannot be run (126, 127), and
//     how a finished process's wait status becomes the workload's exit
//     status (ExitStatus).
//
// It only reads the files it is pointed at and returns values. It must not
// create namespaces, mount, start or signal processes (the runtimes do),
// talk to systemd, or validate the spec: a *spec.Spec is already valid
// (refusing LD_* and NOTIFY_SOCKET in [exec] environment, for one, is
// spec's decision). What differs between runtimes (the native sandbox's
// HOSTNAME without a UTS namespace, gVisor's OCI config) stays in them.
package workload
