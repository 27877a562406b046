package console_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

var screenshots = flag.String("screenshots", "", "write PNG screenshots of each page at 360 and 1440 px wide to this directory")

// TestScreenshots renders each page at a phone's width and a desktop's, for
// people to look at (the README shows two). Quality 100 makes PNGs. It runs only with -screenshots DIR:
//
//	go test ./console -run TestScreenshots -screenshots ../docs/console
func TestScreenshots(t *testing.T) {
	if *screenshots == "" {
		t.Skip("pass -screenshots DIR to write them")
	}
	bin := chromium(t)
	s, base := browserSite(t)
	if err := os.MkdirAll(*screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	browser := startBrowser(t, bin, chromedp.Flag("hide-scrollbars", true))
	ada := newPerson(t, browser)
	ada.run(chromedp.Navigate(base + "/login?as=ada"))
	pages := map[string]string{"switcher": "/console/", "settings": "/console/w/" + s.ws.ID,
		"members": "/console/w/" + s.ws.ID + "/members", "tokens": "/console/w/" + s.ws.ID + "/tokens",
		"audit": "/console/w/" + s.ws.ID + "/audit"}
	for name, path := range pages {
		for _, width := range []int64{360, 1440} {
			ada.run(chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("h1")))
			png, err := chromedp.Run(ada.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(*screenshots, name+"-"+map[int64]string{360: "360", 1440: "1440"}[width]+".png")
			if err := os.WriteFile(out, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
