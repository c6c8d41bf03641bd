/* MSI-X table, PBA and delivery (see pci_msix.h). */
#include "pci_msix.h"

#include <errno.h>
#include <string.h>

#include "core/vm.h"

#define ENTRY_ADDR_LO 0
#define ENTRY_ADDR_HI 4
#define ENTRY_DATA    8
#define ENTRY_CTRL    12

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t ctrl(const struct pci_msix *m)
{
	return pci_get16(m->dev, m->cap + 2);
}

bool pci_msix_enabled(const struct pci_msix *m)
{
	return ctrl(m) & PCI_MSIX_CTRL_ENABLE;
}

void pci_msix_reset(struct pci_msix *m)
{
	memset(m->table, 0, sizeof(m->table));
	for (unsigned v = 0; v < m->nvec; v++)
		m->table[v * PCI_MSIX_ENTRY_SIZE + ENTRY_CTRL] = PCI_MSIX_ENTRY_MASKED;
	m->pending = 0;
	pci_set16(m->dev, m->cap + 2, (uint16_t)(m->nvec - 1));
}

int pci_msix_init(struct pci_msix *m, struct pci_dev *d, unsigned nvec, unsigned bar,
                  uint32_t table_off, uint32_t pba_off)
{
	memset(m, 0, sizeof(*m));
	if (nvec < 1 || nvec > PCI_MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS ||
	    (table_off | pba_off) & 7)
		return -EINVAL;
	unsigned cap = pci_dev_add_cap(d, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_LEN);
	if (!cap)
		return -ENOSPC;
	m->dev = d;
	m->nvec = nvec;
	m->cap = cap;
	m->table_off = table_off;
	m->pba_off = pba_off;
	pci_set32(d, cap + 4, table_off | bar);
	pci_set32(d, cap + 8, pba_off | bar);
	pci_set_wmask16(d, cap + 2, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL);
	pci_msix_reset(m);
	return 0;
}

static bool entry_masked(const struct pci_msix *m, unsigned v)
{
	return m->table[v * PCI_MSIX_ENTRY_SIZE + ENTRY_CTRL] & PCI_MSIX_ENTRY_MASKED;
}

static void deliver(struct pci_msix *m, unsigned v)
{
	const uint8_t *e = &m->table[v * PCI_MSIX_ENTRY_SIZE];
	uint64_t addr = get32(e + ENTRY_ADDR_LO) | (uint64_t)get32(e + ENTRY_ADDR_HI) << 32;
	m->sent++;
	if (m->dev->host)
		vm_signal_msi(m->dev->host->vm, addr, get32(e + ENTRY_DATA));
}

/* Deliver what became unmasked. */
static void flush_pending(struct pci_msix *m)
{
	uint16_t c = ctrl(m);
	if (!m->pending || !(c & PCI_MSIX_CTRL_ENABLE) || (c & PCI_MSIX_CTRL_MASKALL))
		return;
	for (unsigned v = 0; v < m->nvec; v++) {
		if ((m->pending >> v & 1) && !entry_masked(m, v)) {
			m->pending &= ~(1ull << v);
			deliver(m, v);
		}
	}
}

bool pci_msix_notify(struct pci_msix *m, unsigned vec)
{
	uint16_t c = ctrl(m);
	if (!(c & PCI_MSIX_CTRL_ENABLE) || vec >= m->nvec || !pci_bus_master(m->dev))
		return false;
	if ((c & PCI_MSIX_CTRL_MASKALL) || entry_masked(m, vec)) {
		m->pending |= 1ull << vec;
		m->masked_hits++;
		return true;
	}
	deliver(m, vec);
	return true;
}

bool pci_msix_access(struct pci_msix *m, uint64_t off, uint8_t *data, unsigned size,
                     bool is_write)
{
	uint64_t tsize = pci_msix_table_size(m), psize = pci_msix_pba_size(m);

	if (off >= m->table_off && off - m->table_off < tsize) {
		uint64_t t = off - m->table_off;
		unsigned n = size < tsize - t ? size : (unsigned)(tsize - t);
		if (!is_write) {
			memcpy(data, &m->table[t], n);
			memset(data + n, 0, size - n);
			return true;
		}
		memcpy(&m->table[t], data, n);
		/* Keep the read-only bits: vector control's reserved bits, the address's low two. */
		for (unsigned v = (unsigned)(t / PCI_MSIX_ENTRY_SIZE);
		     v <= (t + n - 1) / PCI_MSIX_ENTRY_SIZE; v++) {
			uint8_t *e = &m->table[v * PCI_MSIX_ENTRY_SIZE];
			e[ENTRY_ADDR_LO] &= ~3u;
			e[ENTRY_CTRL] &= PCI_MSIX_ENTRY_MASKED;
			memset(e + ENTRY_CTRL + 1, 0, 3);
		}
		flush_pending(m);
		return true;
	}
	if (off >= m->pba_off && off - m->pba_off < psize) {
		uint64_t p = off - m->pba_off;
		if (!is_write)
			for (unsigned i = 0; i < size; i++)
				data[i] = p + i < psize && p + i < 8 ? (uint8_t)(m->pending >> (8 * (p + i))) : 0;
		return true;     /* the PBA is read-only */
	}
	return false;
}

void pci_msix_cfg_written(struct pci_msix *m, unsigned off, unsigned len)
{
	if (off < m->cap + 4 && off + len > m->cap + 2)
		flush_pending(m);
}
