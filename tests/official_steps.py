"""Faithful transcriptions of one official training step of TRADES, MART and TRADES-AWP.

Transcribed, for comparison in tests only, from:
- yaodongyu/TRADES `trades.py` (`trades_loss`), commit 9d308f1cd6079b2b437587dd779788030b193440;
  the eval-mode attack / train-mode loss switch as in its current `trades_loss`;
- YisenWang/MART `mart.py` (`mart_loss`), commit 1c2a93054d770ff6275762fbc86f18c27999bf92;
- csdongxian/AWP `trades_AWP/train_trades_cifar.py` (`perturb_input`, `train`) and `utils_awp.py`
  (`TradesAWP.calc_awp`, `diff_in_weights`, `add_into_weights`), commit 00a8e85911c4cb49f17e9711a41ba9173ef03078.

Changes, none of which alters what is computed: `.cuda()` noise becomes the `noise` argument (the
same draws the product takes from its generator), `Variable` is dropped, and each function takes
one optimiser step where the official loop does (zero_grad, backward, step, AWP restore).
The attack loops repeat across the three functions as they do across the three repositories:
a transcription that shares them would no longer be checkable line by line against the originals.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F

EPS = 1e-20


def trades_step(model, optimizer, x_natural, y, noise, step_size, epsilon, perturb_steps, beta):
    criterion_kl = torch.nn.KLDivLoss(reduction="sum")
    model.eval()
    x_adv = x_natural.detach() + 0.001 * noise
    for _ in range(perturb_steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            loss_kl = criterion_kl(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x_natural), dim=1))
        grad = torch.autograd.grad(loss_kl, [x_adv])[0]
        x_adv = x_adv.detach() + step_size * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x_natural - epsilon), x_natural + epsilon)
        x_adv = torch.clamp(x_adv, 0.0, 1.0)
    model.train()
    x_adv = torch.clamp(x_adv, 0.0, 1.0).detach()
    optimizer.zero_grad()
    logits = model(x_natural)
    loss_natural = F.cross_entropy(logits, y)
    loss_robust = criterion_kl(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x_natural), dim=1)) / len(x_natural)
    loss = loss_natural + beta * loss_robust
    loss.backward()
    optimizer.step()
    return x_adv, loss.detach()


def mart_step(model, optimizer, x_natural, y, noise, step_size, epsilon, perturb_steps, beta):
    kl = torch.nn.KLDivLoss(reduction="none")
    model.eval()
    batch_size = len(x_natural)
    x_adv = x_natural.detach() + 0.001 * noise
    for _ in range(perturb_steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            loss_ce = F.cross_entropy(model(x_adv), y)
        grad = torch.autograd.grad(loss_ce, [x_adv])[0]
        x_adv = x_adv.detach() + step_size * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x_natural - epsilon), x_natural + epsilon)
        x_adv = torch.clamp(x_adv, 0.0, 1.0)
    model.train()
    x_adv = torch.clamp(x_adv, 0.0, 1.0).detach()
    optimizer.zero_grad()
    logits = model(x_natural)
    logits_adv = model(x_adv)
    adv_probs = F.softmax(logits_adv, dim=1)
    tmp1 = torch.argsort(adv_probs, dim=1)[:, -2:]
    new_y = torch.where(tmp1[:, -1] == y, tmp1[:, -2], tmp1[:, -1])
    loss_adv = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), new_y)
    nat_probs = F.softmax(logits, dim=1)
    true_probs = torch.gather(nat_probs, 1, (y.unsqueeze(1)).long()).squeeze()
    loss_robust = (1.0 / batch_size) * torch.sum(
        torch.sum(kl(torch.log(adv_probs + 1e-12), nat_probs), dim=1) * (1.0000001 - true_probs))
    loss = loss_adv + float(beta) * loss_robust
    loss.backward()
    optimizer.step()
    return x_adv, loss.detach()


def diff_in_weights(model, proxy):
    diff_dict = OrderedDict()
    for (old_k, old_w), (_, new_w) in zip(model.state_dict().items(), proxy.state_dict().items()):
        if len(old_w.size()) <= 1:
            continue
        if "weight" in old_k:
            diff_w = new_w - old_w
            diff_dict[old_k] = old_w.norm() / (diff_w.norm() + EPS) * diff_w
    return diff_dict


def add_into_weights(model, diff, coeff=1.0):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in diff:
                param.add_(coeff * diff[name])


def calc_awp(model, proxy, proxy_optim, inputs_adv, inputs_clean, targets, beta):
    proxy.load_state_dict(model.state_dict())
    proxy.train()
    loss_natural = F.cross_entropy(proxy(inputs_clean), targets)
    loss_robust = F.kl_div(F.log_softmax(proxy(inputs_adv), dim=1), F.softmax(proxy(inputs_clean), dim=1),
                           reduction="batchmean")
    loss = -1.0 * (loss_natural + beta * loss_robust)
    proxy_optim.zero_grad()
    loss.backward()
    proxy_optim.step()
    return diff_in_weights(model, proxy)


def trades_awp_step(model, optimizer, x_natural, target, noise, step_size, epsilon, perturb_steps, beta,
                    proxy, proxy_optim, gamma, awp_on):
    model.eval()  # perturb_input
    x_adv = x_natural.detach() + 0.001 * noise
    for _ in range(perturb_steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            loss_kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x_natural), dim=1),
                               reduction="sum")
        grad = torch.autograd.grad(loss_kl, [x_adv])[0]
        x_adv = x_adv.detach() + step_size * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x_natural - epsilon), x_natural + epsilon)
        x_adv = torch.clamp(x_adv, 0.0, 1.0)
    model.train()
    if awp_on:
        awp = calc_awp(model, proxy, proxy_optim, x_adv, x_natural, target, beta)
        add_into_weights(model, awp, coeff=1.0 * gamma)
    optimizer.zero_grad()
    logits_adv = model(x_adv)
    loss_robust = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(model(x_natural), dim=1),
                           reduction="batchmean")
    logits = model(x_natural)
    loss_natural = F.cross_entropy(logits, target)
    loss = loss_natural + beta * loss_robust
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if awp_on:
        add_into_weights(model, awp, coeff=-1.0 * gamma)
    return x_adv, loss.detach()
