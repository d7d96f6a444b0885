package eventsv1

// MaxDesignBytes is the largest design file the fleet takes: the catalog
// refuses to register a larger upload (CreateDesignRequest.size_bytes, whose
// rule repeats this number, and the presigned upload policy), and the images
// worker downloads a DesignUploaded object up to it. One limit, so that no
// stored design is bound to be rejected later.
const MaxDesignBytes = 64 << 20
