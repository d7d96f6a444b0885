package domain

// RenderJob asks for the print files of a paid order.
type RenderJob struct {
	OrderID string
	Items   []RenderItem
}

// Validate returns an error wrapping ErrInvalid unless the order id may
// become a key segment. Items are checked one by one as they are rendered.
func (j RenderJob) Validate() error { return CheckID("order_id", j.OrderID) }

// RenderItem is one order item to print.
type RenderItem struct {
	ItemID, DesignID string
	// DesignKey is the design master in the renders bucket; empty for a
	// blank item, which has nothing to print.
	DesignKey string
	// ProductImageKey names the product photo the mockup is composited
	// on; empty, or an unusable photo, means the generated silhouette.
	ProductImageKey string
	Placement       *Placement
}

// Printable reports whether the item carries a design.
func (it RenderItem) Printable() bool { return it.DesignKey != "" }

// PrintKeys are where an order item's outputs live in the renders bucket.
type PrintKeys struct {
	PrintFile, Mockup string
}

// KeysForItem returns the output keys of one order item.
func KeysForItem(orderID, itemID string) PrintKeys {
	base := "orders/" + orderID + "/" + itemID + "/"
	return PrintKeys{PrintFile: base + "print.png", Mockup: base + "mockup.jpg"}
}

// PrintFile is one rendered item: where its files are and the print
// file's pixel size and resolution.
type PrintFile struct {
	ItemID            string
	PrintFileKey      string
	MockupKey         string
	WidthPx, HeightPx int
	DPI               int
}

// PrintFiles are the rendered items of one order (blank items left out).
type PrintFiles struct {
	OrderID string
	Files   []PrintFile
}
