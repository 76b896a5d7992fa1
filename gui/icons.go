package gui

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"

	"fyne.io/fyne/v2"
)

// The four tray icons are drawn here rather than shipped as files: a
// coloured disc whose mark also differs, so the state reads without
// colour too.
const iconSize = 64

var (
	white = color.NRGBA{0xff, 0xff, 0xff, 0xff}

	iconOK        = drawIcon("gatehouse-ok.png", color.NRGBA{0x2e, 0x9e, 0x44, 0xff}, markCheck, white)
	iconBlocked   = drawIcon("gatehouse-blocked.png", color.NRGBA{0xe0, 0x9b, 0x12, 0xff}, markBang, white)
	iconSignedOut = drawIcon("gatehouse-signed-out.png", color.NRGBA{0x80, 0x80, 0x80, 0xff}, markRing, color.NRGBA{})
	iconAgentDown = drawIcon("gatehouse-agent-down.png", color.NRGBA{0xc6, 0x28, 0x28, 0xff}, markCross, white)
)

// Icon is the tray icon for a look.
func Icon(l Look) fyne.Resource {
	switch l {
	case LookOK:
		return iconOK
	case LookBlocked:
		return iconBlocked
	case LookSignedOut:
		return iconSignedOut
	}
	return iconAgentDown
}

// A mark says, for a point relative to the centre (in units of the
// radius), whether it is drawn in the mark's colour on the disc.
type mark func(x, y float64) bool

func markCheck(x, y float64) bool {
	return nearSegment(x, y, -0.45, 0, -0.12, 0.35) || nearSegment(x, y, -0.12, 0.35, 0.5, -0.35)
}

func markBang(x, y float64) bool {
	return (math.Abs(x) < 0.12 && y > -0.6 && y < 0.2) || math.Hypot(x, y-0.42) < 0.13
}

// markRing hollows the disc: signed out is an empty ring.
func markRing(x, y float64) bool { return math.Hypot(x, y) < 0.62 }

func markCross(x, y float64) bool {
	return nearSegment(x, y, -0.45, -0.45, 0.45, 0.45) || nearSegment(x, y, -0.45, 0.45, 0.45, -0.45)
}

func nearSegment(x, y, x1, y1, x2, y2 float64) bool {
	dx, dy := x2-x1, y2-y1
	t := math.Max(0, math.Min(1, ((x-x1)*dx+(y-y1)*dy)/(dx*dx+dy*dy)))
	return math.Hypot(x-(x1+t*dx), y-(y1+t*dy)) < 0.12
}

func drawIcon(name string, disc color.NRGBA, m mark, ink color.NRGBA) fyne.Resource {
	img := image.NewNRGBA(image.Rect(0, 0, iconSize, iconSize))
	r := float64(iconSize)/2 - 1
	for py := 0; py < iconSize; py++ {
		for px := 0; px < iconSize; px++ {
			x, y := (float64(px)+0.5-iconSize/2)/r, (float64(py)+0.5-iconSize/2)/r
			switch {
			case math.Hypot(x, y) > 1:
				// transparent outside the disc
			case m(x, y):
				img.SetNRGBA(px, py, ink)
			default:
				img.SetNRGBA(px, py, disc)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic("gui: encoding a drawn icon: " + err.Error()) // an in-memory image always encodes
	}
	return fyne.NewStaticResource(name, buf.Bytes())
}
