package demo

import (
	"testing"

	"github.com/google/uuid"
)

func TestIDSchemeIsTheDocumentedOne(t *testing.T) {
	t.Parallel()
	if Namespace.String() != "f5998d11-5f6a-55a2-b34d-04f3b1ecb3d2" {
		t.Fatalf("namespace = %s; the documented value changed", Namespace)
	}
	if got, want := VariantID("TEE-UNI-BLK-M"), uuid.NewSHA1(Namespace, []byte("TEE-UNI-BLK-M")).String(); got != want {
		t.Fatalf("variant id %s, want %s", got, want)
	}
}

func TestDemoCatalogIsValidAndDeterministic(t *testing.T) {
	t.Parallel()
	a, b := Products(), Products()
	if len(a) < 20 {
		t.Fatalf("%d products, want 20+", len(a))
	}
	skus := map[string]bool{}
	ids := map[string]bool{}
	for i := range a {
		if err := a[i].Validate(); err != nil {
			t.Fatalf("%s: %v", a[i].Title, err)
		}
		if a[i].ID != b[i].ID || len(a[i].Variants) != len(b[i].Variants) {
			t.Fatal("not deterministic")
		}
		if len(a[i].Placements) == 0 {
			t.Fatalf("%s has no placement", a[i].Title)
		}
		for _, v := range a[i].Variants {
			if skus[v.SKU] || ids[v.ID] {
				t.Fatalf("duplicate %s", v.SKU)
			}
			skus[v.SKU], ids[v.ID] = true, true
			if v.ID != VariantID(v.SKU) || v.ProductID != a[i].ID {
				t.Fatalf("%s: id not derived from the SKU", v.SKU)
			}
		}
	}
	if len(Variants()) != len(skus) {
		t.Fatal("Variants() does not list every variant")
	}
}
