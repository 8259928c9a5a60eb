package sim

import "net/http"

// Admin endpoints of the rules in extras.go (attach, HA, max_rebuilds).
func (s *Sim) extraAdminRoutes(admin func(string, func(*http.Request) (any, error)), decode func(*http.Request, any) error) {
	admin("POST /admin/volumes/{id}/fail-next-attach", func(r *http.Request) (any, error) {
		return nil, s.FailNextAttach(r.PathValue("id"))
	})
	admin("POST /admin/volumes/{id}/fail-next-republish", func(r *http.Request) (any, error) {
		return nil, s.FailNextRepublish(r.PathValue("id"))
	})
	admin("GET /admin/ha", func(r *http.Request) (any, error) {
		return map[string]bool{"enabled": s.HAEnabled()}, nil
	})
	admin("PUT /admin/ha", func(r *http.Request) (any, error) {
		var b struct {
			Enabled *bool `json:"enabled"`
		}
		if err := decode(r, &b); err != nil {
			return nil, err
		}
		if b.Enabled == nil {
			return nil, errInvalidArgument("enabled: required")
		}
		s.SetHAEnabled(*b.Enabled)
		return nil, nil
	})
	admin("PUT /admin/max-rebuilds", func(r *http.Request) (any, error) {
		var b struct {
			MaxRebuilds int `json:"max_rebuilds"`
		}
		if err := decode(r, &b); err != nil {
			return nil, err
		}
		return nil, s.SetMaxRebuilds(b.MaxRebuilds)
	})
}
