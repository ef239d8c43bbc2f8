package sandbox

import (
	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/nucleus-containers/nucleus/internal/workload"
)

// resolveIdentity fills UID, GID, SupGIDs and HOME/USER from the container's
// /etc/passwd and /etc/group (workload.Resolve's rules), the container's
// root being at root: init runs it on the assembled /newroot before
// pivot_root, and the paths resolve inside root, so a symlinked
// /etc/passwd in a rootfs cannot point at a host file.
func resolveIdentity(ep *execPlan, root string) error {
	inRoot := func(inside string) (string, bool) {
		p, err := securejoin.SecureJoin(root, inside)
		return p, err == nil
	}
	id, err := workload.Resolve(inRoot, ep.User, ep.Groups)
	if err != nil {
		return err
	}
	ep.UID, ep.GID, ep.SupGIDs = id.UID, id.GID, id.SupGIDs
	ep.Env = workload.WithUser(ep.Env, id)
	return nil
}
