package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller"
)

// errTooLarge marks a body over the endpoint's limit (413).
var errTooLarge = errors.New("request body too large")

// statusOf maps the core's typed errors (and errTooLarge) to a status;
// anything else is the controller's fault.
func statusOf(err error) int {
	switch {
	case errors.Is(err, controller.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, controller.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, controller.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, controller.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, controller.ErrTokenRefused), errors.Is(err, controller.ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.ErrorResponse{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeBody reads one JSON object, refusing unknown fields and trailing
// data, so that a typo is an error rather than a silently ignored setting.
// The caller limits r.Body with http.MaxBytesReader.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("%w: the limit here is %d bytes", errTooLarge, tooLarge.Limit)
		}
		return controller.Invalid("malformed JSON body: %v", err)
	}
	if dec.More() {
		return controller.Invalid("malformed JSON body: more than one JSON value")
	}
	return nil
}
