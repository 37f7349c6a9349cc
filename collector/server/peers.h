/* SPDX-License-Identifier: BSD-2-Clause */
/* Connections held per peer address, across every worker: the per-peer connection cap. */
#ifndef PODFLOW_COLLECTOR_PEERS_H
#define PODFLOW_COLLECTOR_PEERS_H

#include <stddef.h>
#include <stdint.h>

/*
 * One table for the whole process, taken by each worker at accept and
 * released when the connection closes (a mutex: both happen once per
 * connection, never per request).  A peer is its full address (IPv4 as
 * v4-mapped); docs/architecture.md says why not a prefix.
 */
struct peers;

/* `max`: connections one address may hold, 0 = no cap (still counted).  NULL + errno. */
struct peers *peers__new(uint32_t max);
void peers__free(struct peers *p);
/* Live: applies to connections accepted from now on (those open stay). */
void peers__set_max(struct peers *p, uint32_t max);

/*
 * Counts one more connection from `key`: 0, -EUSERS when it already holds
 * the cap (nothing counted: close the connection), or -ENOMEM.
 */
int peers__acquire(struct peers *p, const uint8_t key[16]);
/* One of its connections closed (after a successful acquire only). */
void peers__release(struct peers *p, const uint8_t key[16]);
/* Connections `key` holds now (tests, /metrics). */
uint32_t peers__held(struct peers *p, const uint8_t key[16]);
/* Addresses that hold at least one connection now. */
size_t peers__count(struct peers *p);

#endif /* PODFLOW_COLLECTOR_PEERS_H */
