"""An SN-GAN discriminator: every convolution and the final linear layer wrapped in
spectral normalisation, the classic `torch.nn.utils.spectral_norm` form (weight_orig with
weight_u/weight_v buffers) beside the parametrization form."""

import torch.nn as nn
from torch.nn.utils import spectral_norm
from torch.nn.utils.parametrizations import spectral_norm as sn_parametrization

leak = 0.1
w_g = 4


class Discriminator(nn.Module):
    def __init__(self, channels=3):
        super(Discriminator, self).__init__()
        self.conv1 = spectral_norm(nn.Conv2d(channels, 64, 3, stride=1, padding=(1, 1)))
        self.conv2 = spectral_norm(nn.Conv2d(64, 64, 4, stride=2, padding=(1, 1)))
        self.conv3 = spectral_norm(nn.Conv2d(64, 128, 3, stride=1, padding=(1, 1)))
        self.conv4 = spectral_norm(nn.Conv2d(128, 128, 4, stride=2, padding=(1, 1)))
        self.conv5 = spectral_norm(nn.Conv2d(128, 256, 3, stride=1, padding=(1, 1)))
        self.conv6 = spectral_norm(nn.Conv2d(256, 256, 4, stride=2, padding=(1, 1)))
        self.conv7 = spectral_norm(nn.Conv2d(256, 512, 3, stride=1, padding=(1, 1)))
        self.up = spectral_norm(nn.ConvTranspose2d(512, 64, 4, stride=2, padding=1))
        self.fc = sn_parametrization(nn.Linear(w_g * w_g * 512, 1))
        self.act = nn.LeakyReLU(leak)


model = Discriminator()
