// Package gui is the tray app's user interface (fyne): the tray icon and
// menu, the status, apps, posture and sign-in windows, and the desktop
// notifications when access is revoked or restored.
//
// It draws a State, its own view model, and calls Actions; FromAgent builds
// the State from the agent's local API types. It talks to the agent only
// through agent/localapi: it never holds keys and never talks to the
// controller (guard_test.go proves it links neither controller, gateway,
// tunnel, wire nor agent/keystore).
//
// Imported by cmd/gatehouse-tray only.
package gui
