package httpapi

import (
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// mountExceptions serves exceptions (list, get, create, delete) and
// explanations.
func (s *Server) mountExceptions(mux *http.ServeMux) {
	c := s.core
	mux.Handle("GET "+api.PathExceptions, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return c.Exceptions.List(r.Context(), who)
	}))
	mux.Handle("GET "+api.PathExceptions+"/{id}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		return c.Exceptions.Get(r.Context(), who, r.PathValue("id"))
	}))
	mux.Handle("POST "+api.PathExceptions, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		var e api.Exception
		if err := decodeBody(r, &e); err != nil {
			return nil, err
		}
		got, _, err := c.Exceptions.Create(r.Context(), who, e)
		return answer(got, err)
	}))
	mux.Handle("DELETE "+api.PathExceptions+"/{id}", s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		_, err := c.Exceptions.Delete(r.Context(), who, r.PathValue("id"))
		return nil, err
	}))
	mux.Handle("GET "+api.PathExplain, s.admin(func(r *http.Request, who controller.Actor) (any, error) {
		q := r.URL.Query()
		return answer(c.Explain.Explain(r.Context(), who, q.Get(api.QueryUser), q.Get(api.QueryDevice), q.Get(api.QueryApp)))
	}))
}
