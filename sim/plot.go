package sim

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"netcard/card"
)

// PlotRates are the line rates of the goodput plot.
var PlotRates = []int{9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 3_000_000, 12_000_000}

// GoodputCurve measures the card's download goodput at each rate.
func GoodputCurve(rates []int, size int) ([]Throughput, error) {
	st, err := NewStore(5, 0, map[string][]byte{"f": RandomFile(5, size)})
	if err != nil {
		return nil, err
	}
	var out []Throughput
	for _, b := range rates {
		t, err := MeasureThroughput(st, b, size, card.CardProfile)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// PlotGoodput measures GoodputCurve and writes a PNG line chart: x is the
// line rate (log scale, 9600 to 12 Mbit/s), y the goodput as a fraction of
// the raw line byte rate (0 to 1, grid every 0.1). Blue: the card; grey:
// the theoretical maximum for the negotiated framing.
func PlotGoodput(w io.Writer, quick bool) error {
	size := 128 << 10
	if quick {
		size = 32 << 10
	}
	pts, err := GoodputCurve(PlotRates, size)
	if err != nil {
		return err
	}
	const W, H, m = 800, 500, 40
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	lo, hi := math.Log10(float64(PlotRates[0])), math.Log10(float64(PlotRates[len(PlotRates)-1]))
	x := func(rate int) int { return m + int((math.Log10(float64(rate))-lo)/(hi-lo)*float64(W-2*m)) }
	y := func(f float64) int { return H - m - int(f*float64(H-2*m)) }
	grid := color.RGBA{220, 220, 220, 255}
	for i := 0; i <= 10; i++ {
		drawLine(img, m, y(float64(i)/10), W-m, y(float64(i)/10), grid)
	}
	for _, r := range PlotRates {
		drawLine(img, x(r), m, x(r), H-m, grid)
	}
	black := color.RGBA{0, 0, 0, 255}
	drawLine(img, m, H-m, W-m, H-m, black)
	drawLine(img, m, m, m, H-m, black)
	series := func(f func(t Throughput) float64, c color.RGBA) {
		for i := 1; i < len(pts); i++ {
			a, b := pts[i-1], pts[i]
			drawLine(img, x(a.Baud), y(f(a)), x(b.Baud), y(f(b)), c)
			drawLine(img, x(a.Baud), y(f(a))+1, x(b.Baud), y(f(b))+1, c)
		}
	}
	series(func(t Throughput) float64 { return t.Max / (float64(t.Baud) / 10) }, color.RGBA{150, 150, 150, 255})
	series(func(t Throughput) float64 { return t.Goodput / (float64(t.Baud) / 10) }, color.RGBA{0, 80, 220, 255})
	return png.Encode(w, img)
}

func drawLine(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if 2*e >= dy {
			e += dy
			x0 += sx
		}
		if 2*e <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}
