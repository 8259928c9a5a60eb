package tiering

// HasRoom reports whether a pool of capacity bytes, of which used are taken, can take a replica
// of size bytes: more than size bytes free, and headroomPercent of the capacity still free
// afterwards (clamped to 0..99). The Mover's choice of a target pool and the tiering planner's
// capacity check both use it, so a move the planner starts is one the Mover finds room for.
func HasRoom(capacity, used, size uint64, headroomPercent int) bool {
	headroomPercent = min(max(headroomPercent, 0), 99)
	if used > capacity || capacity-used <= size {
		return false
	}
	return used+size <= capacity/100*uint64(100-headroomPercent)
}
