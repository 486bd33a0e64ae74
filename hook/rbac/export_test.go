package rbac

// SetBeforeConfirm makes WhoCan run f after reading the graph and before
// asking the API server.
func SetBeforeConfirm(o *WhoCanOptions, f func()) { o.beforeConfirm = f }
