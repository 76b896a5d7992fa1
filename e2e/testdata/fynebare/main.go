// Command fynebare is the tray benchmark's baseline: fyne (the toolkit the
// tray is built on) with one window of one label and nothing else, so the
// benchmark can tell what the toolkit costs idle from what the tray adds.
package main

import (
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/widget"
)

func main() {
	a := app.NewWithID("io.gatehouse.fynebare")
	w := a.NewWindow("fyne baseline")
	w.SetContent(widget.NewLabel("nothing changes here"))
	w.ShowAndRun()
}
