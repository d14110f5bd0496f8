// SPDX-License-Identifier: GPL-2.0
/*
 * counter_drv: the guest driver for examples/counter-device.ts (f1ab:0002),
 * the smallest whole driver for a device with MSI-X: it checks the ID
 * register, enables every MSI-X vector and takes its interrupts. The device
 * raises nothing by itself (the lab fires its vectors), so the driver only
 * counts: /proc/interrupts shows one line per vector, named
 * "counter_drv-<pci name>-<vector>", and that is where a test reads them.
 *
 *   BAR0 (32-bit, 4 KiB): 0x00 ID "CNTR"; MSI-X table 0x800, PBA 0xc00
 *
 * Probe sets things up in order and undoes them in reverse on failure;
 * remove is the same reverse order.
 */
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#define COUNTER_DRV_NAME	"counter_drv"
#define COUNTER_REG_ID		0x00
#define COUNTER_ID_MAGIC	0x434e5452	/* "CNTR" */
#define COUNTER_NAME_LEN	40

struct counter_dev {
	struct pci_dev	*pdev;
	void __iomem	*regs;
	int		nr_vectors;
	char		(*names)[COUNTER_NAME_LEN];	/* request_irq keeps the pointer */
};

static irqreturn_t counter_irq(int irq, void *data)
{
	/* MSI-X is edge-triggered and the device has no cause register: nothing to ack. */
	return IRQ_HANDLED;
}

static void counter_free_irqs(struct counter_dev *cdev, int n)
{
	while (n--)
		free_irq(pci_irq_vector(cdev->pdev, n), cdev);
}

static int counter_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct counter_dev *cdev;
	int ret, i, nvec;
	u32 magic;

	cdev = kzalloc(sizeof(*cdev), GFP_KERNEL);
	if (!cdev)
		return -ENOMEM;
	cdev->pdev = pdev;

	ret = pci_enable_device(pdev);
	if (ret)
		goto err_free;
	ret = pci_request_regions(pdev, COUNTER_DRV_NAME);
	if (ret)
		goto err_disable;
	cdev->regs = pci_iomap(pdev, 0, 0);
	if (!cdev->regs) {
		ret = -ENOMEM;
		goto err_release;
	}
	/* A device that is not there (or not this one) reads something else. */
	magic = readl(cdev->regs + COUNTER_REG_ID);
	if (magic != COUNTER_ID_MAGIC) {
		dev_err(&pdev->dev, "ID register reads 0x%08x, expected 0x%08x\n", magic, COUNTER_ID_MAGIC);
		ret = -ENODEV;
		goto err_unmap;
	}
	/* MSI-X messages are memory writes by the device: it must be a bus master. */
	pci_set_master(pdev);

	nvec = pci_msix_vec_count(pdev);
	if (nvec <= 0) {
		dev_err(&pdev->dev, "no MSI-X capability (%d)\n", nvec);
		ret = nvec ? nvec : -ENODEV;
		goto err_master;
	}
	/* Every vector or none: a test counting per vector wants them all. */
	nvec = pci_alloc_irq_vectors(pdev, nvec, nvec, PCI_IRQ_MSIX);
	if (nvec < 0) {
		ret = nvec;
		goto err_master;
	}
	cdev->names = kcalloc(nvec, sizeof(*cdev->names), GFP_KERNEL);
	if (!cdev->names) {
		ret = -ENOMEM;
		goto err_vectors;
	}
	for (i = 0; i < nvec; i++) {
		snprintf(cdev->names[i], COUNTER_NAME_LEN, "%s-%s-%d", COUNTER_DRV_NAME, pci_name(pdev), i);
		ret = request_irq(pci_irq_vector(pdev, i), counter_irq, 0, cdev->names[i], cdev);
		if (ret) {
			counter_free_irqs(cdev, i);
			goto err_names;
		}
	}
	cdev->nr_vectors = nvec;
	pci_set_drvdata(pdev, cdev);
	dev_info(&pdev->dev, "counter device: %d MSI-X vectors\n", nvec);
	return 0;

err_names:
	kfree(cdev->names);
err_vectors:
	pci_free_irq_vectors(pdev);
err_master:
	pci_clear_master(pdev);
err_unmap:
	pci_iounmap(pdev, cdev->regs);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_free:
	kfree(cdev);
	return ret;
}

static void counter_remove(struct pci_dev *pdev)
{
	struct counter_dev *cdev = pci_get_drvdata(pdev);

	/* Handlers go before their vectors, vectors before bus mastering. */
	counter_free_irqs(cdev, cdev->nr_vectors);
	kfree(cdev->names);
	pci_free_irq_vectors(pdev);
	pci_clear_master(pdev);
	pci_iounmap(pdev, cdev->regs);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	kfree(cdev);
}

static const struct pci_device_id counter_ids[] = {
	{ PCI_DEVICE(0xf1ab, 0x0002) },
	{ }
};
MODULE_DEVICE_TABLE(pci, counter_ids);

static struct pci_driver counter_driver = {
	.name		= COUNTER_DRV_NAME,
	.id_table	= counter_ids,
	.probe		= counter_probe,
	.remove		= counter_remove,
};
module_pci_driver(counter_driver);

MODULE_DESCRIPTION("Guest driver for the irqlab example counter device: takes and counts its MSI-X interrupts");
MODULE_LICENSE("GPL");
