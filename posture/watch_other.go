//go:build !linux

package posture

import (
	"context"
	"log/slog"
)

// Watcher returns a WatchFunc that signals nothing: on this OS no event
// source is read yet, so every fact is seen at the agent's poll
// (Config.CollectInterval) or, for the slow ones, within slowFactsTTL.
func (s *System) Watcher(log *slog.Logger) WatchFunc {
	return func(ctx context.Context, changed func()) error {
		<-ctx.Done()
		return nil
	}
}
