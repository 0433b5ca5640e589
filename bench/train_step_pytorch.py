#!/usr/bin/env python3
"""The PyTorch reference for bench/TrainStepBench: the same architectures, optimisers, losses and batch shapes as
PunkGrid's TorchSharp models (training/Models), timed the same way. Prints one JSON line per model; the parameter
counts must equal TrainStepBench's (bench/train-step-vs-pytorch.sh checks), which pins the architectures together.

Usage: /usr/bin/python3 bench/train_step_pytorch.py [--models LIST] [--steps N] [--warmup N] [--repeats N] [--threads N]
"""
import argparse
import json
import os
import time

import torch
from torch import nn
import torch.nn.functional as F

NAMES = ["trait", "vae", "gan", "cgan", "pokemon"]


class TraitCnn(nn.Module):
    def __init__(self, channels=1):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = nn.Conv2d(channels, 32, 2), nn.Conv2d(32, 64, 2), nn.Conv2d(64, 128, 2)
        self.fc1, self.fc2 = nn.Linear(128, 512), nn.Linear(512, 2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x)).amax(dim=(2, 3))
        return self.fc2(F.relu(self.fc1(x)))


class PunkVae(nn.Module):
    def __init__(self, enc_dropout=0.38, dec_dropout=0.36):
        super().__init__()

        def enc(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(enc_dropout))

        def dec(i, o):
            return nn.Sequential(nn.ConvTranspose2d(i, o, 3, stride=2, padding=1, output_padding=1), nn.ReLU(), nn.Dropout(dec_dropout))

        self.encoder = nn.Sequential(enc(3, 32), enc(32, 64), enc(64, 128), enc(128, 256), nn.Flatten())
        self.to_mean, self.to_log_variance = nn.Linear(256 * 8 * 8, 256), nn.Linear(256 * 8 * 8, 256)
        self.from_latent = nn.Linear(256, 256 * 8 * 8)
        self.decoder = nn.Sequential(dec(256, 128), dec(128, 64), dec(64, 32),
                                     nn.ConvTranspose2d(32, 3, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())

    def forward(self, x):
        h = self.encoder(x)
        mean, log_variance = self.to_mean(h), self.to_log_variance(h)
        z = mean + torch.randn_like(mean) * (log_variance * 0.5).exp()
        return self.decoder(self.from_latent(z).view(-1, 256, 8, 8)), mean, log_variance


class PunkGenerator(nn.Module):
    def __init__(self, condition=0):
        super().__init__()
        self.condition = condition
        self.dense = nn.Linear(100 + condition, 512 * 4 * 4, bias=False)
        self.dense_norm = nn.BatchNorm1d(512 * 4 * 4)

        def up(i, o):
            return nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2))

        self.upsample = nn.Sequential(up(512, 256), up(256, 128), up(128, 64), nn.ConvTranspose2d(64, 4, 4, 2, 1), nn.Sigmoid())

    def forward(self, noise, condition):
        x = torch.cat([noise, condition], 1) if self.condition else noise
        return self.upsample(F.leaky_relu(self.dense_norm(self.dense(x)), 0.2).view(-1, 512, 4, 4))


class PunkDiscriminator(nn.Module):
    def __init__(self, condition=0):
        super().__init__()
        self.condition = condition
        def down(i, o, normalize=True):
            if not normalize:
                return nn.Sequential(nn.Conv2d(i, o, 4, 2, 1), nn.LeakyReLU(0.2))
            return nn.Sequential(nn.Conv2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2))

        self.features = nn.Sequential(down(4 + (1 if condition else 0), 64, normalize=False), down(64, 128), down(128, 256), down(256, 512))
        self.decide = nn.Linear(513 * 4 * 4 + condition, 1)
        self.label_map = nn.Linear(condition, 64 * 64) if condition else None

    @staticmethod
    def with_batch_spread(h):
        spread = (h.var(0, unbiased=False) + 1e-8).sqrt().mean()
        return torch.cat([h, spread.expand(h.shape[0], 1, h.shape[2], h.shape[3])], 1).flatten(1)

    def forward(self, images, condition):
        if self.label_map is None:
            return self.decide(self.with_batch_spread(self.features(images)))
        label_map = self.label_map(condition).view(-1, 1, 64, 64)
        return self.decide(torch.cat([self.with_batch_spread(self.features(torch.cat([images, label_map], 1))), condition], 1))


def conv_norm_act(i, o, k, s, groups, hard_swish, activation=True):
    layers = [nn.Conv2d(i, o, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(o, eps=0.001, momentum=0.01)]
    if activation:
        layers.append(nn.Hardswish() if hard_swish else nn.ReLU())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeezed):
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(channels, squeezed, 1), nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        return x * F.hardsigmoid(self.expand(F.relu(self.reduce(F.adaptive_avg_pool2d(x, 1)))))


class InvertedResidual(nn.Module):
    def __init__(self, i, k, expand, o, se, hs, stride):
        super().__init__()
        self.residual = stride == 1 and i == o
        layers = [] if expand == i else [conv_norm_act(i, expand, 1, 1, 1, hs)]
        layers.append(conv_norm_act(expand, expand, k, stride, expand, hs))
        if se:
            layers.append(SqueezeExcite(expand, max(8, (expand // 4 + 4) // 8 * 8)))
        layers.append(conv_norm_act(expand, o, 1, 1, 1, hs, activation=False))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return y + x if self.residual else y


class MobileNetV3Small(nn.Module):
    BLOCKS = [(3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
              (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
              (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
              (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1)]

    def __init__(self, classes):
        super().__init__()
        layers, channels = [conv_norm_act(3, 16, 3, 2, 1, True)], 16
        for k, e, o, se, hs, s in self.BLOCKS:
            layers.append(InvertedResidual(channels, k, e, o, se, hs, s))
            channels = o
        layers += [conv_norm_act(channels, 576, 1, 1, 1, True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def count(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def trait_step():
    model = TraitCnn(1)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.01, lr_decay=0.01, weight_decay=0, initial_accumulator_value=0, eps=1e-10)
    x, y = torch.rand(100, 1, 24, 24), torch.randint(0, 2, (100,))

    def run():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return count(model), run


def vae_step():
    model = PunkVae().train()
    opt = torch.optim.Adam(model.parameters(), lr=0.0008)
    x = torch.rand(64, 3, 128, 128)

    def run():
        opt.zero_grad()
        reconstruction, mean, log_variance = model(x)
        mse = F.mse_loss(reconstruction, x, reduction="sum") / x.shape[0]
        kl = -0.5 * (log_variance + 1 - mean.pow(2) - log_variance.exp()).sum() / x.shape[0]
        (mse + 3.4 * kl).backward()
        opt.step()
    return count(model), run


def gan_step(condition_size):
    def make():
        g, d = PunkGenerator(condition_size).train(), PunkDiscriminator(condition_size).train()
        g_opt = torch.optim.Adam(g.parameters(), lr=0.0002, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(d.parameters(), lr=0.0002, betas=(0.5, 0.999))
        real = torch.rand(64, 4, 64, 64)
        cond = torch.randint(0, 2, (64, condition_size)).float() if condition_size else None
        ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)

        def run():
            fake = g(torch.randn(64, 100), cond)
            d_opt.zero_grad()
            d_loss = F.binary_cross_entropy_with_logits(d(real, cond), ones) + \
                F.binary_cross_entropy_with_logits(d(fake.detach(), cond), zeros)
            d_loss.backward()
            d_opt.step()
            g_opt.zero_grad()
            F.binary_cross_entropy_with_logits(d(fake, cond), ones).backward()
            g_opt.step()
        return count(g, d), run
    return make


def pokemon_step():
    model = MobileNetV3Small(149).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    x, y = torch.rand(32, 3, 96, 96), torch.randint(0, 149, (32,))

    def run():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return count(model), run


STEPS = {"trait": trait_step, "vae": vae_step, "gan": gan_step(0), "cgan": gan_step(92), "pokemon": pokemon_step}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(NAMES))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    for name in args.models.split(","):
        if name not in STEPS:
            raise SystemExit(f"unknown model '{name}'; allowed: {', '.join(NAMES)}")
        parameters, run = STEPS[name]()
        for _ in range(args.warmup):
            run()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(args.steps):
                run()
            times.append((time.perf_counter() - start) * 1000 / args.steps)
        print(json.dumps({"impl": "pytorch", "model": name, "parameters": parameters, "threads": args.threads,
                          "ms_per_step": [round(t, 2) for t in times]}), flush=True)


if __name__ == "__main__":
    main()
