package postgres

// ListOrdersSQL exposes the list statement to the plan tests.
var ListOrdersSQL = listOrdersSQL

// StoreActivitySQL exposes the console's store statement to the plan test.
const StoreActivitySQL = storeActivitySQL

// Transitions exposes the transition counter to its test.
var Transitions = transitions

// StuckSQL exposes the reconciler's scan to the plan test.
var StuckSQL = stuckSQL
