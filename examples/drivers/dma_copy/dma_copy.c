// SPDX-License-Identifier: GPL-2.0
/*
 * dma_copy: a guest driver for irqlab's example DMA engine
 * (examples/dma-copy-device.ts, vendor 0xf1ab device 0x0003). It runs the
 * engine's commands on buffers from the DMA API and checks every byte, so it
 * doubles as a test of a device's DMA and of PCIe ordering: data the device
 * wrote must be in memory when its interrupt arrives.
 *
 * One interrupt: MSI-X vector 0, or INTx with intx=1 (the device pulses it).
 *
 * debugfs, /sys/kernel/debug/dma_copy/<pci name>/:
 *   run (write)   "<op> <bytes> <rounds>", bytes a multiple of 4; the write
 *                 returns when the run has ended (or fails: -EINVAL for a bad
 *                 request, -ENOMEM when the buffers cannot be had, -EBUSY
 *                 while another run is in progress). Each round uses a new
 *                 seed, so data left from an earlier round shows as wrong.
 *     fill    the device writes the pattern to a buffer; the driver checks it
 *     check   the driver writes the pattern; the device reads and checks it
 *     copy    the driver writes the pattern to A; the device copies A to B;
 *             the driver checks B
 *     order   fill, checked by the interrupt handler itself, before anything
 *             else can have run: it must already see this round's data
 *     local   the driver writes the pattern to A; the device loads it into
 *             its local memory (BAR2), the driver reads it there by MMIO,
 *             the device stores it to B; the driver checks B (bytes <= 64 KiB)
 *   result (read) one line, "key value" pairs in this order:
 *     op NAME bytes N rounds N done N bad_words N stale_rounds N
 *     errors N aborted 0|1 usecs N crc 0xHHHHHHHH
 *     done: rounds that completed; bad_words: 32-bit words found wrong after
 *     completion (by the driver, or by the device for check); stale_rounds:
 *     order rounds whose handler saw a wrong word; errors: rounds the device
 *     ended with STATUS.ERROR or that timed out; aborted: a function reset
 *     cancelled the run; usecs: the run's wall time; crc: the device's CRC
 *     register after the last round.
 *   storm (write) "N": N posted 32-bit writes to the local memory (BAR2), as
 *                 fast as the CPU issues them, then one read that flushes
 *                 them: load on the link between QEMU and the device while a
 *                 run goes on (it takes no lock).
 *
 * Module parameters: intx=1 (use INTx even if MSI-X is there), timeout_ms
 * (per command, default 30000).
 */
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define DRV_NAME		"dma_copy"
#define DC_VENDOR_ID		0xf1ab
#define DC_DEVICE_ID		0x0003

/* BAR0 registers (examples/dma-copy-device.ts) */
#define DC_ID			0x00
#define DC_STATUS		0x04
#define DC_LEN			0x0c
#define DC_SRC_LO		0x10
#define DC_SRC_HI		0x14
#define DC_DST_LO		0x18
#define DC_DST_HI		0x1c
#define DC_SEED			0x20
#define DC_CMD			0x24
#define DC_CRC			0x28
#define DC_MISMATCHES		0x2c
#define DC_VECTOR		0x38

#define DC_ID_MAGIC		0x444d4143	/* "DMAC" */
#define DC_STATUS_DONE		BIT(0)
#define DC_STATUS_ERROR		BIT(1)

enum dc_cmd { DC_CMD_COPY = 1, DC_CMD_FILL = 2, DC_CMD_CHECK = 3, DC_CMD_LOAD = 4, DC_CMD_STORE = 5 };

#define DC_LOCAL_SIZE		0x10000		/* BAR2: the engine's local memory */
#define DC_MAX_BYTES		(64u << 20)	/* the device's LEN limit */

static bool intx;
module_param(intx, bool, 0444);
MODULE_PARM_DESC(intx, "Use INTx even when MSI-X is available (default 0)");

static unsigned int timeout_ms = 30000;
module_param(timeout_ms, uint, 0444);
MODULE_PARM_DESC(timeout_ms, "How long one command may take (default 30000)");

enum dc_op { DC_OP_FILL, DC_OP_CHECK, DC_OP_COPY, DC_OP_ORDER, DC_OP_LOCAL };
static const char * const dc_op_names[] = { "fill", "check", "copy", "order", "local" };

struct dc_result {
	enum dc_op op;
	u32 bytes, rounds, done, errors, stale_rounds, crc;
	u64 bad_words, usecs;
	bool aborted;
};

struct dc_dev {
	struct pci_dev *pdev;
	void __iomem *regs;
	void __iomem *local;		/* BAR2 */
	int irq;
	struct dentry *debugfs;
	struct mutex lock;		/* one run at a time; guards result */
	struct completion done;
	struct completion reset_over;	/* the function reset that set aborted is done */
	u32 status;			/* STATUS as the handler found it */
	/*
	 * order rounds: the handler checks this buffer against this seed. Set
	 * before the command's CMD write, which publishes them: the device
	 * raises the interrupt only after that write reached it.
	 */
	const __le32 *check_buf;
	u32 check_words, check_seed;
	bool check_stale;
	bool aborted;			/* a function reset cancelled the command */
	struct dc_result result;
};

static struct dentry *dc_debugfs_root;

static inline u32 dc_pattern(u32 seed, u32 i)
{
	return (i * 0x9e3779b1u) ^ seed;
}

static void dc_fill(__le32 *buf, u32 words, u32 seed)
{
	u32 i;

	for (i = 0; i < words; i++)
		buf[i] = cpu_to_le32(dc_pattern(seed, i));
}

/* Words of buf that are not the pattern for seed. */
static u64 dc_count_bad(const __le32 *buf, u32 words, u32 seed)
{
	u64 bad = 0;
	u32 i;

	for (i = 0; i < words; i++)
		bad += le32_to_cpu(READ_ONCE(buf[i])) != dc_pattern(seed, i);
	return bad;
}

static irqreturn_t dc_irq(int irq, void *data)
{
	struct dc_dev *dc = data;
	u32 status;

	/*
	 * With INTx the line may be shared: a completion of ours sets DONE or
	 * ERROR. Reading STATUS (a BAR access) is also what tells a vfio-user
	 * client the INTx has been serviced.
	 */
	status = readl(dc->regs + DC_STATUS);
	if (!(status & (DC_STATUS_DONE | DC_STATUS_ERROR)))
		return IRQ_NONE;
	writel(status, dc->regs + DC_STATUS);	/* W1C */

	/*
	 * PCIe ordering: the device's posted writes of this buffer reached
	 * memory before its interrupt did, so the data is there now, before
	 * anything else could have waited for it. The buffer is coherent DMA
	 * memory: no sync is needed, only a fresh read of each word.
	 */
	if (READ_ONCE(dc->check_buf) && dc_count_bad(dc->check_buf, dc->check_words, dc->check_seed))
		dc->check_stale = true;

	dc->status = status;
	complete(&dc->done);
	return IRQ_HANDLED;
}

static void dc_write_addr(struct dc_dev *dc, unsigned int lo, u64 addr)
{
	writel(lower_32_bits(addr), dc->regs + lo);
	writel(upper_32_bits(addr), dc->regs + lo + 4);
}

/*
 * One command. The register writes are posted and reach the device in order,
 * CMD last. writel() orders the CPU's earlier writes to DMA memory before the
 * MMIO write (memory-barriers.txt, "KERNEL I/O BARRIER EFFECTS"), so a buffer
 * the driver filled is complete when the device starts reading it.
 * Returns 0, -EIO (STATUS.ERROR), -ETIMEDOUT, or -ECANCELED after a reset.
 */
static int dc_command(struct dc_dev *dc, enum dc_cmd cmd, u64 src, u64 dst, u32 bytes, u32 seed)
{
	unsigned long left;

	reinit_completion(&dc->done);
	dc->status = 0;
	dc_write_addr(dc, DC_SRC_LO, src);
	dc_write_addr(dc, DC_DST_LO, dst);
	writel(bytes, dc->regs + DC_LEN);
	writel(seed, dc->regs + DC_SEED);
	writel(cmd, dc->regs + DC_CMD);

	left = wait_for_completion_timeout(&dc->done, msecs_to_jiffies(timeout_ms));
	if (READ_ONCE(dc->aborted)) {
		/* The buffers are free only once the reset has stopped the engine. */
		wait_for_completion(&dc->reset_over);
		return -ECANCELED;
	}
	if (!left)
		return -ETIMEDOUT;
	return dc->status & DC_STATUS_ERROR ? -EIO : 0;
}

/* What is wrong with what the device put in local memory (read back over MMIO). */
static u64 dc_count_bad_local(struct dc_dev *dc, u32 words, u32 seed)
{
	u64 bad = 0;
	u32 i;

	for (i = 0; i < words; i++)
		bad += readl(dc->local + 4 * i) != dc_pattern(seed, i);
	return bad;
}

/* One round of op; adds what it found to r. Returns 0 or a negative errno from dc_command(). */
static int dc_round(struct dc_dev *dc, struct dc_result *r, __le32 *a, dma_addr_t a_dma,
		    __le32 *b, dma_addr_t b_dma, u32 seed)
{
	u32 words = r->bytes / 4;
	int ret;

	switch (r->op) {
	case DC_OP_FILL:
		ret = dc_command(dc, DC_CMD_FILL, 0, a_dma, r->bytes, seed);
		if (!ret)
			r->bad_words += dc_count_bad(a, words, seed);
		return ret;
	case DC_OP_ORDER:
		dc->check_words = words;
		dc->check_seed = seed;
		dc->check_stale = false;
		WRITE_ONCE(dc->check_buf, a);
		ret = dc_command(dc, DC_CMD_FILL, 0, a_dma, r->bytes, seed);
		WRITE_ONCE(dc->check_buf, NULL);
		if (!ret) {
			r->stale_rounds += dc->check_stale;
			r->bad_words += dc_count_bad(a, words, seed);
		}
		return ret;
	case DC_OP_CHECK:
		dc_fill(a, words, seed);
		ret = dc_command(dc, DC_CMD_CHECK, a_dma, 0, r->bytes, seed);
		if (!ret)
			r->bad_words += readl(dc->regs + DC_MISMATCHES);
		return ret;
	case DC_OP_COPY:
		dc_fill(a, words, seed);
		ret = dc_command(dc, DC_CMD_COPY, a_dma, b_dma, r->bytes, seed);
		if (!ret)
			r->bad_words += dc_count_bad(b, words, seed);
		return ret;
	case DC_OP_LOCAL:
		dc_fill(a, words, seed);
		ret = dc_command(dc, DC_CMD_LOAD, a_dma, 0, r->bytes, seed);
		if (!ret)
			r->bad_words += dc_count_bad_local(dc, words, seed);
		if (!ret)
			ret = dc_command(dc, DC_CMD_STORE, 0, b_dma, r->bytes, seed);
		if (!ret)
			r->bad_words += dc_count_bad(b, words, seed);
		return ret;
	}
	return -EINVAL;
}

static int dc_run(struct dc_dev *dc, enum dc_op op, u32 bytes, u32 rounds)
{
	struct device *dev = &dc->pdev->dev;
	bool two = op == DC_OP_COPY || op == DC_OP_LOCAL;
	struct dc_result r = { .op = op, .bytes = bytes, .rounds = rounds };
	dma_addr_t a_dma, b_dma = 0;
	__le32 *a, *b = NULL;
	u32 base = get_random_u32(), i;
	ktime_t t0;
	int ret = 0;

	/* Coherent buffers: CPU and device see each other's writes without syncs. */
	a = dma_alloc_coherent(dev, bytes, &a_dma, GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	if (two) {
		b = dma_alloc_coherent(dev, bytes, &b_dma, GFP_KERNEL);
		if (!b) {
			dma_free_coherent(dev, bytes, a, a_dma);
			return -ENOMEM;
		}
	}

	WRITE_ONCE(dc->aborted, false);
	t0 = ktime_get();
	for (i = 0; i < rounds; i++) {
		ret = dc_round(dc, &r, a, a_dma, b, b_dma, base + i);
		if (ret == -ECANCELED) {
			r.aborted = true;
			break;
		}
		if (ret) {
			/* The device may still be at it: stop rather than hand it the buffers again. */
			r.errors++;
			dev_err(dev, "%s round %u: %d\n", dc_op_names[op], i, ret);
			break;
		}
		r.done++;
	}
	r.usecs = ktime_us_delta(ktime_get(), t0);
	r.crc = readl(dc->regs + DC_CRC);

	/*
	 * After a timeout the engine may still be at the buffers, and the next
	 * command would find it busy: a function reset stops it. Only a device
	 * that has stopped may lose them; if the reset cannot be had (the device
	 * is being removed), the buffers are leaked on purpose.
	 */
	if (ret == -ETIMEDOUT && pci_try_reset_function(dc->pdev)) {
		dev_warn(dev, "leaking the run's buffers: the device may still use them\n");
	} else {
		if (b)
			dma_free_coherent(dev, bytes, b, b_dma);
		dma_free_coherent(dev, bytes, a, a_dma);
	}
	dc->result = r;
	return 0;
}

/* ---- debugfs ---- */

static ssize_t dc_run_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct dc_dev *dc = file->private_data;
	char buf[64], name[8];
	u32 bytes, rounds;
	int op, ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%7s %u %u", name, &bytes, &rounds) != 3)
		return -EINVAL;
	op = match_string(dc_op_names, ARRAY_SIZE(dc_op_names), name);
	if (op < 0 || !bytes || bytes % 4 || bytes > DC_MAX_BYTES || !rounds ||
	    (op == DC_OP_LOCAL && bytes > DC_LOCAL_SIZE))
		return -EINVAL;
	if (!mutex_trylock(&dc->lock))
		return -EBUSY;
	ret = dc_run(dc, op, bytes, rounds);
	mutex_unlock(&dc->lock);
	return ret ? ret : len;
}

static ssize_t dc_storm_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct dc_dev *dc = file->private_data;
	u32 n, i;
	int ret;

	ret = kstrtou32_from_user(ubuf, len, 0, &n);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		writel(i, dc->local + 4 * (i % (DC_LOCAL_SIZE / 4)));
		if (!(i % 4096))
			cond_resched();
	}
	/* Posted writes may still be on their way: a read from the device returns after them. */
	readl(dc->local);
	return len;
}

static const struct file_operations dc_storm_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = dc_storm_write,
	.llseek = noop_llseek,
};

static const struct file_operations dc_run_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = dc_run_write,
	.llseek = noop_llseek,
};

static int dc_result_show(struct seq_file *m, void *unused)
{
	struct dc_dev *dc = m->private;
	struct dc_result r;

	mutex_lock(&dc->lock);
	r = dc->result;
	mutex_unlock(&dc->lock);
	seq_printf(m, "op %s bytes %u rounds %u done %u bad_words %llu stale_rounds %u errors %u aborted %d usecs %llu crc 0x%08x\n",
		   dc_op_names[r.op], r.bytes, r.rounds, r.done, r.bad_words, r.stale_rounds,
		   r.errors, r.aborted, r.usecs, r.crc);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(dc_result);

/* ---- function reset (sysfs reset, AER recovery) ---- */

/*
 * The PCI core is about to reset the function: the command in flight is
 * lost with it, and its interrupt will never come.
 */
static void dc_reset_prepare(struct pci_dev *pdev)
{
	struct dc_dev *dc = pci_get_drvdata(pdev);

	reinit_completion(&dc->reset_over);
	WRITE_ONCE(dc->aborted, true);
}

/*
 * Only now, with the function reset, has the engine stopped touching the
 * run's buffers: the waiter may wake and free them. The core has restored
 * config space (bus master, MSI-X); registers are programmed per command.
 */
static void dc_reset_done(struct pci_dev *pdev)
{
	struct dc_dev *dc = pci_get_drvdata(pdev);

	complete_all(&dc->reset_over);
	complete(&dc->done);
}

static const struct pci_error_handlers dc_err_handlers = {
	.reset_prepare = dc_reset_prepare,
	.reset_done = dc_reset_done,
};

/* ---- probe / remove ---- */

static int dc_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct dc_dev *dc;
	u32 magic;
	int ret;

	dc = devm_kzalloc(dev, sizeof(*dc), GFP_KERNEL);
	if (!dc)
		return -ENOMEM;
	dc->pdev = pdev;
	mutex_init(&dc->lock);
	init_completion(&dc->done);
	init_completion(&dc->reset_over);

	/* Managed (pcim/devm): undone in reverse order after remove or a failed probe. */
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	dc->regs = pcim_iomap_region(pdev, 0, DRV_NAME);
	if (IS_ERR(dc->regs))
		return dev_err_probe(dev, PTR_ERR(dc->regs), "cannot map BAR0\n");
	dc->local = pcim_iomap_region(pdev, 2, DRV_NAME);
	if (IS_ERR(dc->local))
		return dev_err_probe(dev, PTR_ERR(dc->local), "cannot map BAR2\n");
	if (pci_resource_len(pdev, 2) < DC_LOCAL_SIZE)
		return dev_err_probe(dev, -ENODEV, "BAR2 is smaller than the engine's local memory\n");
	magic = readl(dc->regs + DC_ID);
	if (magic != DC_ID_MAGIC)
		return dev_err_probe(dev, -ENODEV, "ID reads 0x%08x, expected 0x%08x\n", magic, DC_ID_MAGIC);

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		return dev_err_probe(dev, ret, "no 64-bit DMA\n");
	pci_set_master(pdev);

	ret = pci_alloc_irq_vectors(pdev, 1, 1, intx ? PCI_IRQ_INTX : PCI_IRQ_MSIX | PCI_IRQ_INTX);
	if (ret < 0)
		return dev_err_probe(dev, ret, "no interrupt\n");
	dc->irq = pci_irq_vector(pdev, 0);
	writel(0, dc->regs + DC_VECTOR);
	writel(DC_STATUS_DONE | DC_STATUS_ERROR, dc->regs + DC_STATUS);	/* nothing left from before */
	ret = request_irq(dc->irq, dc_irq, pdev->msix_enabled ? 0 : IRQF_SHARED, DRV_NAME, dc);
	if (ret) {
		pci_free_irq_vectors(pdev);
		return dev_err_probe(dev, ret, "cannot request irq %d\n", dc->irq);
	}

	pci_set_drvdata(pdev, dc);
	dc->debugfs = debugfs_create_dir(pci_name(pdev), dc_debugfs_root);
	debugfs_create_file("run", 0200, dc->debugfs, dc, &dc_run_fops);
	debugfs_create_file("result", 0444, dc->debugfs, dc, &dc_result_fops);
	debugfs_create_file("storm", 0200, dc->debugfs, dc, &dc_storm_fops);
	dev_info(dev, "DMA engine, %s interrupt (irq %d)\n", pdev->msix_enabled ? "MSI-X" : "INTx", dc->irq);
	return 0;
}

static void dc_remove(struct pci_dev *pdev)
{
	struct dc_dev *dc = pci_get_drvdata(pdev);

	/* No new run; this waits for one in progress to return. */
	debugfs_remove_recursive(dc->debugfs);
	free_irq(dc->irq, dc);
	pci_free_irq_vectors(pdev);
	/* Bus mastering off: a device that stopped late can no longer reach memory. */
	pci_clear_master(pdev);
}

static const struct pci_device_id dc_ids[] = {
	{ PCI_DEVICE(DC_VENDOR_ID, DC_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, dc_ids);

static struct pci_driver dc_driver = {
	.name = DRV_NAME,
	.id_table = dc_ids,
	.probe = dc_probe,
	.remove = dc_remove,
	.err_handler = &dc_err_handlers,
};

static int __init dc_init(void)
{
	int ret;

	dc_debugfs_root = debugfs_create_dir(DRV_NAME, NULL);
	ret = pci_register_driver(&dc_driver);
	if (ret)
		debugfs_remove_recursive(dc_debugfs_root);
	return ret;
}

static void __exit dc_exit(void)
{
	pci_unregister_driver(&dc_driver);
	debugfs_remove_recursive(dc_debugfs_root);
}

module_init(dc_init);
module_exit(dc_exit);

MODULE_DESCRIPTION("Driver for irqlab's example DMA engine (copy, fill, check, with PCIe ordering checked)");
MODULE_LICENSE("GPL");
