// Package simnode is the simulated cluster's node catalogue: the built-in node kinds (GPU
// shapes, the labels GPU Feature Discovery and cloud providers write, MIG and sharing layouts),
// profiles ("h100=2,cpu=1"), and the Node objects made from them. It is pure — no client, no
// processes — so what plans on made-up nodes (`dynamoctl plan --add-nodes`) does not link the
// simulated cluster (package devcluster), which creates these nodes on a real control plane.
package simnode
