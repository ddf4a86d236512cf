"""Tests of SDLS for TM frames (flight/wire/sdls_tm.py): NASA CryptoLib's TM vectors, then properties.

CryptoLib vectors come from its repository (github.com/nasa/CryptoLib); each test names the file
and UTEST it comes from. Its SA 5, as its TM GCM tests set it, is restated with our field names
(shivf_len = iv_tx_len, stmacf_len = mac_len, arsnw = window): AES-256-GCM, iv_len 16 all sent,
no ARSN, MAC 16, ABM memset to 0xFF over the whole frame (our ``abm=None``), key ring [5], which
key_interface_internal.template.c never fills, so all zero. CryptoLib's SA ``iv`` is our ``iv``
on the sending side and ``last_iv`` on the receiving side.

- The apply vector is ut_tm_apply.c's UTEST(TM_APPLY_ENC_VAL, AEAD_AES_GCM_BITMASK_1) as it stood
  at commit c49d8d9 (2025-05-30). At HEAD that test no longer sets ``est = 1``, so SA 5 is
  authentication-only with an AEAD cipher, a case for which CryptoLib's TM apply computes no
  MAC: its truth frame keeps the caller's CCDD... placeholder as the MAC and carries, as ARSN,
  two octets the stale ``shsnf_len = 2`` copies from before the SA's ARSN buffer (the test sets
  ``arsn_len = 0`` only). That frame is not an AES-GCM vector and is not reproduced.
- The process vector is ut_tm_process.c's UTEST(TM_PROCESS_ENC_VAL, AEAD_AES_GCM_BITMASK_1) at
  HEAD. CryptoLib runs it with TM_CHECK_FECF_FALSE and its frame's FECF (9A92) is not the frame's
  CRC (5C25): we check the FECF, so we refuse the frame as given and accept it resealed
  (:func:`reseal`). The same vector is also run in the apply direction.
- Authentication only: CryptoLib's TM code has no GCM vector (it computes no GMAC for TM, see the
  module doc), so that frame is checked against a construction written out by hand here.
"""
from __future__ import annotations

import random
import struct

import crcmod.predefined
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings, strategies as st

from flight.wire.sdls import (MAC_SIZES, SdlsError, SdlsReason, SecurityAssociation, Service, restore_receive_state,
                              sa_table, save_receive_state)
from flight.wire.sdls_tm import ProcessedTm, apply, process, reserve, unverified
from flight.wire.tm_frame import (MAX_FRAME_LENGTH, Depacketizer, MasterChannel, Packetizer, TmFrame,
                                  check_frame_length)

SETTINGS = settings(max_examples=40, deadline=None)
crc16 = crcmod.predefined.mkCrcFun("crc-ccitt-false")

AE = Service.AUTHENTICATED_ENCRYPTION
AUTH = Service.AUTHENTICATION
KEY_5 = bytes(32)                                   # CryptoLib's key ring [5]: never filled, all zero
CL_IV = 0xDEADBEEF_DEADBEEF_DEADBEEF_DEADBEEF        # the IV those tests put in the frame
CL_SCID = 0x2C                                      # their managed parameters: TFVN 0, SCID 0x2C, VC 0
CL_FRAME_LENGTH = 1786                              # max_frame_size, FECF, no OCF
SCID = 0x2A5


def reseal(frame: str | bytes) -> bytes:
    """The frame with its last two octets replaced by the CRC of the rest (crcmod reference)."""
    body = (bytes.fromhex(frame) if isinstance(frame, str) else bytes(frame))[:-2]
    return body + crc16(body).to_bytes(2, "big")


def flip(raw: bytes, bit: int) -> bytes:
    corrupted = bytearray(raw)
    corrupted[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(corrupted)


def refused(reason: SdlsReason, call, *args, **kwargs) -> SdlsError:
    with pytest.raises(SdlsError) as caught:
        call(*args, **kwargs)
    assert caught.value.reason is reason, caught.value
    return caught.value


def packet(apid: int, size: int, seed: int, count: int = 0) -> bytes:
    """A version-0 TM space packet of ``size`` octets (at least 7) with random data, built by hand."""
    header = struct.pack(">HHH", (1 << 11) | apid, 0xC000 | count, size - 7)   # TM, sec. header flag, unsegmented
    return header + random.Random(seed).randbytes(size - 6)


# === CryptoLib: authenticated encryption =========================================================
# ut_tm_apply.c @ c49d8d9, AEAD_AES_GCM_BITMASK_1: truth_tm_h, the protected frame (1786 octets)
APPLY_AEAD_TRUTH = (
    "02C0000018000005DEADBEEFDEADBEEFDEADBEEFDEADBEEFBFEADCEF6419EAC34DA005629917865BE934B8D437776E648E6A734890108696"
    "14BF7A3CA0F5499C599C0BA901667E44DB94BE17DCFB16ED0381BA19E587E1B2A6C896992ED9EDDBB3CA6EFBCA517122DBCD73D33D016149"
    "85A2291094B39AC5C1BDF1B30915105DD875CB4489D6E87C5EFD2EEC36E03957733B6601839726052086959A903DA2BB018549737EDA801E"
    "64816FC13A5CDC17D404547B3DF2030D91470EBCB99C6833BB2CE09BBA0936F6BA84C5735D72D00A7C140FABCA5FD917DDC340ED01E34C5D"
    "DCE5BA140A4765B63A17E75FB180C8AD1B99BD0E7E3AA7FC9441DAD814F19EE9B01CDC6A590674BD439FE33122173752162FD4A6F22CE757"
    "2E5D75F2DDBB0B7305AB242A06ECE23122410A2320C2E7816FB0204254401BFB2D14D3E6FC58291D9C9C9A43AAD73630CA6DD51D9A7AF248"
    "87E6152C2F2F242BA839B3D2088438192F9DFA7CB6CEDD30B0525AB744345D928765E4A4A09CF943887DF994AC8C558A00E10E54A9969A0E"
    "E77B4EE807A08246490E3255B93C0B156A7242B3C04ACA9031C3EB071ABA87A008622F59A08B6296BF9BC176361CEBB7524223F47BB180C9"
    "ACE9D615DB746FE636AEAA0224978EE9C20000400E9817A951C9B9839219D405EB99E1288CB190250C53F9BC044C131C56D769027FF53B34"
    "BE3046E37F71B1D306BD60DBA45F714388D79E9DF98B7978B333F3F97AD4D24DDFA104021B58BDA62089950A79B4B8C6DEBF79D497603B86"
    "84EC1C70D51B7FD12E1D8D54D09BC61712F47749103F5E6E6B59215427CF80B26B190F91C8A7A58DC86D5D8BB5891F54889BBF5ADA7DEDE2"
    "759962BB1BFC1E7645B481B4F52CA911122AE7A47DFB211A5A079E05AAB9E8F66B03A3FF20350462E9C47E71B9A3826CEDF393038CBB0F17"
    "80DEE6853F53BFF5A7DD7E8B900587F039C1C74AF05100A2330F3F16AF723587EF1ADFE08232E454A272A448162A99ED419389C672927C65"
    "84215176FCA123A5E3E8799B407D2A671F4700306144664C3215B47FF4FE4377EC752A15C5A2548289820BE59F8CA364FCABFDE5589E971D"
    "C2DC7A800A2A97EB1A839D697486D58A561CAE27060DC49F24303206D1FA15F28AB4A390FB7C06380981B781CC068B5CC5EF2BBCA19A66A2"
    "3F0E500C6C559B6171F0323E262BF156A8781C4E4F6B8B710EA4E0BEE0D6461B56DB0BCE75BB0686C59567C1E2479455E86E3A43B73A6B6A"
    "C57FEC643D0BE90AB5605302E481163C4AC7B654B328495C979F7DD721758D20D7B6C943A59717EEBFA61F800DF084682595CAD671780CC7"
    "71DA000027CA5371E907FBB221732491F3073D2DDCA0D9DD5EC251DE46E7671C37210DC5740539150441552DCAA79C28AFD6928054527B22"
    "B8522151BAFF24972E823F38E855E02F6153C9180E4B4F3DFDDD81CC0AFD42F05F8D71A00F53DCB255DAD958B8A3D6B5607991AC1C9A50F8"
    "B0A96DAA47EB674DB038BEFF48DFAC61F8DDCEF2F1630CFAA9AE20FECD8611DC68A1DBE92A4160FC1C4B51F5FB38FFAB867652CFC94B3E85"
    "BA94F07E00BA1E3F364BE053E98F79084F9CF50346B0638F63E48C56DF47CC4FD8602027321B80D9EC408321E3FB77A9EF7D90A30EB4DCA5"
    "5265631E0A9AD5EAFE3B8FB1DC533DBC47B705A7ADA738BD9103D3D31EC0F0C8C7BA4AE119100AA64BB5EB96B82F6DCD1F7732619AA32CE2"
    "C175752871E9D21B90D9571173E9874BE7FD1ED85B762A4CEEA15966E4C66E5783AF30ADB74088874A9C065DD1C140D15B57CE0BEF9B15BD"
    "F51BBB4CCEAE8899F7C5AE13CE1F258DD0603D358F466ED36367DB4600CD647E7D835BEE1061A1475DC4EA81ACC5E979BC7725A03EF1BD5E"
    "9CC46CDF4E74CB60FCDAFC8899B58DFD579B8D4210ED94643641792D94BA8079CE8C447CAD117641A2E66AE26744FC7C3297529D7149597A"
    "E1A7A0753AACC75D26B924061BAC64853BF092611F8108FFE94D042D0A0B16CFAFA3DD10D8C1A403B478BF4D9DCAAF3775220E6583E34355"
    "C5AC960761FDC2AA714CB7E8C3DEEED61E6C5B5A0B03645F7ED1B48E5B280D19B406F03D86DC4389026319A037FE8BE09BD771DE4C9BC2F8"
    "990C21349C4D4309D1886FFBF9203A07371E3D149C3A367FD959E1B26234F2F6827ABB97CF4BBC2800E7AAE65EC572F6B072DFFF79A1BDF9"
    "4D98A49FCB252290B3F090D18C837C1C6138004A456CB65FF5CF2065AF9445A60FC2E2E5C2E14DB5621670CFD6C15AAFDEC826E4E49AD2AF"
    "26D185D6E30132273FD394883A293A29DE5DB363A8230131D50661C9718F2F3E8932062C9CF75615955F56269077F7634612D265E90C77D5"
    "446CF3FB12F4166D512340F204D6654EC035988A4596EB58E26AE05ABEDEA460FBA5802917B5B302D80628FDFFE410862D1F1C0B6740B801"
    "909C5BDB74AD370D53CDA8D993D500A6A0554E5F333FE1DBF57E166BBDC1F231CF94CBB8E0B6592CA7DFED501414DD089C48"
)

# ut_tm_process.c, AEAD_AES_GCM_BITMASK_1: framed_tm_h, the protected frame as received (FECF 9A92 not its CRC)
PROCESS_AEAD_FRAME = (
    "02C0000018000005DEADBEEFDEADBEEFDEADBEEFDEADBEEF0B355A29091CC09B6434CA743273C0A1F0529D44CEDD32F09B9DBB45AB35C4B6"
    "07C4783AAEFE7068F6924F069E335DACBF11CB0ABA3268B6E1F5B12D6A9CE5E26BF249125CE02CECD90F17F642A9ED8524E73CBCA4A125D1"
    "6A00BABCA86146B264F2E36D3F81A8645B8B8A66214C473EFDBF6F8FAA435C9DC3B839BDE4FADEA2D8A5C9EDFD7E1DB8B1BA6C1B10E20F82"
    "D98C3959104E826C5DC4F63228F5D3FDA431ADCB775A2300000113E3FEE4B87F2F87550B66FA001494C23357A2F095F3593790F6BBBC6EDD"
    "C301422A8AB70C51B20924C02D202DA34523823C8E08B7973E6EB4AB7BA5F7A78DD5513C911BC5213087091629F3600856B9D4A756337F92"
    "DD3F853D442F1F0C9966EB7D5E7954F5963AD83382EE13B20F2866AE7393E54B81E25E7598DA37959B9F195AA2A9C858C867FF84AF8E079B"
    "AFFEEB19102B22800D42938819771EB622AAC490BCEDAA7EA2481B0547E687CCB95E26A2922166D7CAB077EF0E06EC3BF07764DE160C3C0D"
    "B07A9F93D41ECE84521EC0E82D9A3658B502850B19CAC88E6B5D0C975F850616BD3F2A950B01A38F903108A1A12F38EDE3B6833B7126E2AF"
    "81B719147BCDA0AEE5BD60E90A8DD800EF5F967400773EE79334F08480B110DFABB2946826828ACA98C16004D1D78C1C18C384A19A0AFB73"
    "792ABFDFC55DBE7B36496114B85C28C954D8FF6D661B92E5CD1541D5843E55CFA1F48F08423301012583A7F770C3D3C0CA1A54BAFAECE16E"
    "35C45423474DE63D98E966A6A65ABAA012798562F18FDE35426BEA7E75F06F3E2A2538AE992E6996F2FA48F8C2CA179ED76C0F817B47B64B"
    "BA561F7502B672188200C360D709DE7DA7443ABBFE5506604A6394D3DC7914E71DF54EFED8DCB264E07B8B7EB50015DD33A11354FA85FCDA"
    "7B225B1A89AC68827946D1C94FE6E926FDA7C4EE8CBF8DAFB2BB2FC3900914F04DFF504CCEC0A45BD78784AA43D9AAA3EFF8F72EAC5C2E7F"
    "BDD9C78F49DAD8624DC84329CA1753840284F4DAB6102EBD1DA47ED9A7E7CB055318D359A5BA9E55434740731EAD208457AE94A169135FD0"
    "2E99E68775F5F99550BE0FF79AD2BAFE7D4C08FAB79D101273F3CAE8C6E66585248779238705A1D1D4531347EB593EDF7D55E85C91C633F6"
    "185782DCB3942DDC78BE75EE20BD42AD42CAC5440F5579C690D3A127C0962C4D6250DBAFC2622B47D1EE505D3DBA523592530D78644E2AC4"
    "B2E352D584C14191599DF0EB1F8E78A20FCF3BE1B76E6EFA374A8A9F119AE92A707E056BCC5A4B9AD27739FC7CFCA27E3ED0D33A0E724089"
    "930CF5A947E9EFF24C4A3BF5147150D65F4A781723B4FFE230AF61E25F5E1A7D74565A52411AF43700A05AC1A3E778B7D85B1570895726F3"
    "94A7345AEB634C4185FF6C2603EFC4F00422163B37BD5EC98BD320139EC0E3B69563E9216C236F9516CF2305FC8CC7995E7813A9DC6ADA3A"
    "B6D503368103EB349199345A449E636524DFC87ECE09BB2A8C5323ECA50875DEC26D25EEDFF6E3908B9086CA182CC93300008623074F1AD5"
    "2F1CFE6EF32A6BCF78AD4621CDCC5FF4E6282EED12C3939E28F66FAA2B47AB4C0BED328A883995F8616FFA8EE3E66905E9719E7C980D2BCB"
    "E0744FC1795956C46ADCA32B9D3FCE5C968B65794B9B10526821F82BE34D7C76CE097E5973335015B99C1D8398D0B1D17353F221F9657F90"
    "E2BBBFA0F196664EDB5B22F4D352E5B1BF3734D6A95678AD5D3A5CB3A76A8938FF2058A4E0297AE9A50DF6B4231EA6319DB77476AEDD7DCB"
    "C091D018C89A66EB8E05B42B7E2EF76776B563D432BB3B51827E73212E68D693BBBEA8922C5A184394DFD7EC296324F7D91DC4BA950A9EDB"
    "25F29112B843D662CEBC630CA24E4B93A31E7E0B644BAFAD2435167FA6F9195B3B23971EFFB4BDBD0F65AF8EF2CD1146FC533B7C83CC83FE"
    "1540294DE3E16154E8FCA507B2FC0154677ACA2D3718A76924B9E8585BF25F14729FCE656B426704293AE6A8181E3929F1352304EF0CA774"
    "7FA2DB0DB7DCF32D2A5B0F68933ACB58F32712EF50AEFC28A1B7E4315E8B8BCDCACF230200BDC4F41B320969DEF240C21A259EE319E69711"
    "F2C44ED08D7BE40E905078534906CB2AE09E653AE3E33ECE1E056512798A9525883AD5EAAFC394B0C788E57D21B7D076926DD6D583FE2208"
    "14F4473E67245A3FE732DE8BF814BAFF99D3AAD1CA671269BD3F84560E98398AA9F6BA625E9BC516BB88A4FB2A7EC4B3017AC74362F58653"
    "B6B7A2226FCBD484A834FE5E8F4A7432FECF8974D57088C7955EEE593BD806BB84B46DC2E75C2709C37468866DF97E66F49BECE821AA8997"
    "EC766D6E6529CF96C18A14435EE0DED2BDE56D77B2091D4CA1346830EDDA23D114EFE1596201D80FE213B8B7DFFA79FC84A2A63C77AC9FAE"
    "6CB1B8BB99521B43309915DA6B28316E400F10FDA0F1DBDD25761DE798DC89408F94438F56A3253F79E8846521FF501F9A92"
)

# ut_tm_process.c, AEAD_AES_GCM_BITMASK_1: truth_tm_h octets 24..1767, the PDU the frame decrypts to
PROCESS_AEAD_PLAINTEXT = (
    "1E642C7DC7BE80E3832F65AD01DFEC41B3DD8F2B5311F62FBF4C62B6919EE89BB9C0A8BDA4B0934F05B5EE1435EE8953CE3EDFA6CC72D4E0"
    "48CFA18F25A0AEEB67817530D8826B8CC07ED3B62243361C5591E5D4331BEE2345193917966976CC0FF4B8659C2F12822945EB99022105F9"
    "09F9EBD83618CF711A38F507CDD6521C5298F6CCC7F815B81A848FD3C483252717B6FC2380A9F4C0237B08F2BFBC7A4B9FCD09CC647DE188"
    "119659C3EE5624323FB83AC391337AA5426D9647C214E65F2E4F7AA010E4883BB55F52852A4BC35C22A56924361B4FB5F40195895A89BAD0"
    "0094C4C8C5EFC3F5977227ED62A61B27D9A3409CA15FFDE1EA2DAABA0EA4327E59D95A74332FBEC4367665ECF22E1C7F1EC078AB08975E88"
    "CA23EC578D68540B064D2728CE39B433ADB829A2A2C554D3A8B180229F4F5F6882A3548E95BFAC100FC08AE1BB488C14A78C9457A098DDF5"
    "B8A1EB09A96970E5948068BD9806352FE87624C00831130A5A2DC03115210CB8FDBA7BC07905E679B1AB58063E1D97F675CB6D03733BA8A5"
    "F0254D2BEF842B0D1FE6AF7701316BA28511636C3D8879E11B4F0A74A02CC8DD87E565BA0A0265F379A8605084A1FC5287E43C8FA45483F5"
    "6846E3BCB8136E61EA90DFFB0088B0543E2933037F2035BBE4AF47184F446AFC6DA153871097A5139A4FAB74B6B8F33176B4CB4B352B4126"
    "D49D189754512D39D4EE21B1F3D0161CAFB19846A3CCC1BDBE1E87D5C73770531B93E2E838ED33571C4F4149DC7AD60CAA3658904B0B2AE0"
    "83896191F8844537EB879D84FB3266A0902CBFC8DDF8A271F54C1A600B81F1126574D775B3F1C6D56D0FE86F889EDDD71FD577A429158DC1"
    "BADFA06DDC7B56AADC4D47BA52521CBDA3045FB4A6183D0A74E92AECDC855976514717241C447DCC742005F97558C46D6EDDA91FD65527B6"
    "2B0FBA6E95C08BCC085E2517E649EAB4DF4E8A59FF4899F504D0D4537475F8A193433C421FC0517C049B900920D1D358B7785E517DEFE24A"
    "850A601DF9A222C915D653F7CAA3606C607EE12D2B9A295B01BEC3FF9B36627646FE36BCD564C4C5E086382544EFC5CF81EB0C661B2B7E36"
    "FD785255BDA7DACC04887008D6C20D5277690E7D8DE41F381201695B9AE7FFEF8DE2786B757A1C06A3F5ED6BAC2D1940400973B1EA85580C"
    "34CCEB228AFBC0ED9E307ADA1D62877ABEC09D2775466CDBD0869D8079CFEB15DD27140A137102204646095251B4C425EFB3270EAEFD8D1D"
    "0A6E5DF39A54CEB10D736693C376F6CFC76A8CC7DBB78CADB1FEB357D5B1E6F5486D5F12CA9816380FF66AFC9FB9DEFC06F6EF8155AF8C84"
    "C4D69A87B302D7DAE9CCFD2C9FA46799AE5AA557C3FB4E24DD362D4B77BEF76A864EBFB0FB27C26D01C6F9A541018E64CFCA7598934DBB4F"
    "DCB50B643E860BFD6055323AC9CB199CE9AE50E6EE94BB9794BA28BE6A4B2079ACC7C4276C5326C28B1A201EA6FA65BF76B9AC3795D11D6B"
    "8F46A9A9C235CEB9007754BC5F0C29D73D607D8449AF9C232CCD7E5764BF8EEB3F33A4AB592BDF4BE45D0CC98EF88C47030F7155FEC85AAA"
    "E1A949475EBBCDB87936B8161099BF9A2794D314AAA6B417ACB7A4643C025DD518AA8664D97829953E5C8621EBD7595B7B87CA654C878254"
    "5399814357362605A3089E03C098F00858925CAE8A4476A7C69F6AFBC97DF9C9897560332AC41EEEE139DF5E0A00C841F27180B5589BF85A"
    "1920AF6EE9174DD4D634C2B2FDD258D5452A5A5258644C5B6C5B10C6EBFDC2CD9F31C1EFAC8F44C9D37BB0831A8A78510C6EF45A1746FF39"
    "4BA202DC841E18566C8659C7968013BF63A097D62F1D6735CFD14BA10140893E138D57765C8CB7B998DD353F91406CD55E3E59F2DE1D9172"
    "B8CFC5E998F833995F1479D9F81E614707386FD73F324781647FC35A583E703F5E5C238373F60CB264FE2BBA03EBCF6AF631F2F78222052D"
    "674F46CEFB42E3607787B9CE193869BC37F9F35E2F6F3CA52EAC87DAC6544E9A10B5E7B17C9A9B3CF1AC123BFA5F8F3547F0E30EF11632CC"
    "75DDFA04AF182C6FD47279842CDA2DC6B3EABA7243B761992B494586FFC6FF52C173C55FBB8D0DBCEB63BD131A9D5B967D3BF295D562A20A"
    "6DE72E1BB105CD68A0FBC4C6CA3382236DD4E520D5C9083B88A4A39150E4354AF3D7491A06BAD214FE79E4E1DE2C6C585250002025B00E8D"
    "E24B0E880BB7D6970C8FF23C36C1221873257E8F560434A775094B1C2CD4FE473ADD8D4F26714C183D5CC06D1FD8E4A08A2990ACD7E8234D"
    "EAE3252BE0EC833EA73DC155D110DBA7FC90941B573523BE18329436621D54F902A1342EDD6673403A12FE0AF08D1127D76B5F465D245CAF"
    "E9E522D1F9BF2D0A45F1CBCBDF0FC1B690AE3AF18AA5C3C10306108CBA578D14569649DB474486F5C9EF17B852469B734AE1F419397590BD"
    "7AB3A1378FA6D1CA"
)


def cryptolib_sa(**counters) -> SecurityAssociation:
    return SecurityAssociation(5, AE, key=KEY_5, iv_len=16, iv_tx_len=16, arsn_len=0, mac_len=16, abm=None,
                               window=5, **counters)


def test_cryptolib_apply_aead_gcm():
    # ut_tm_apply.c @ c49d8d9, UTEST(TM_APPLY_ENC_VAL, AEAD_AES_GCM_BITMASK_1): header 02C000001800 (SCID 0x2C, VC 0,
    # counts 0, FHP 0), data field AABB... (1744 octets), SA IV DEADBEEF... -> the truth frame, FECF included; the SA's
    # IV is then DEADBEEFDEADBEEFDEADBEEFDEADBEF0.
    sa = cryptolib_sa(iv=CL_IV)
    assert reserve(sa) == (18, 16)
    frame = TmFrame(CL_SCID, 0, 0, 0, 0, bytes.fromhex("AABB") * 872, None, reserve(sa))
    assert frame.length == CL_FRAME_LENGTH
    assert apply(frame, sa).hex().upper() == APPLY_AEAD_TRUTH
    assert sa.iv.to_bytes(16, "big").hex().upper() == "DEADBEEFDEADBEEFDEADBEEFDEADBEF0"
    rx = cryptolib_sa(last_iv=CL_IV - 1)
    assert process(bytes.fromhex(APPLY_AEAD_TRUTH), sa_table(rx), CL_FRAME_LENGTH, False).frame == frame


def test_cryptolib_process_aead_gcm():
    # ut_tm_process.c, UTEST(TM_PROCESS_ENC_VAL, AEAD_AES_GCM_BITMASK_1): SA IV (last seen) DEADBEEF...DEADBEEE; the
    # frame's PDU decrypts to the truth frame's. Its FECF 9A92 is not its CRC (CryptoLib runs with TM_CHECK_FECF_FALSE).
    rx = cryptolib_sa(last_iv=CL_IV - 1)
    table = sa_table(rx)
    raw = bytes.fromhex(PROCESS_AEAD_FRAME)
    error = refused(SdlsReason.BAD_FRAME, process, raw, table, CL_FRAME_LENGTH, False)
    assert "BAD_CRC" in str(error) and rx.last_iv == CL_IV - 1
    accepted = process(reseal(raw), table, CL_FRAME_LENGTH, False)
    assert isinstance(accepted, ProcessedTm)
    assert accepted.data.hex().upper() == PROCESS_AEAD_PLAINTEXT
    assert (accepted.spi, accepted.iv, accepted.arsn, rx.last_iv) == (5, CL_IV, None, CL_IV)
    assert accepted.frame == TmFrame(CL_SCID, 0, 0, 0, 0, accepted.data, None, (18, 16))
    assert accepted.frame.length == CL_FRAME_LENGTH and accepted.ocf is None
    refused(SdlsReason.REPLAY, process, reseal(raw), table, CL_FRAME_LENGTH, False)


def test_cryptolib_process_vector_in_the_apply_direction():
    # the same UTEST: the plaintext, protected under the frame's IV, gives CryptoLib's frame octet for octet up to the
    # FECF, and its CRC there
    sa = cryptolib_sa(iv=CL_IV)
    frame = TmFrame(CL_SCID, 0, 0, 0, 0, bytes.fromhex(PROCESS_AEAD_PLAINTEXT), None, reserve(sa))
    raw = bytes.fromhex(PROCESS_AEAD_FRAME)
    protected = apply(frame, sa)
    assert protected[:-2] == raw[:-2]
    assert protected == reseal(raw) and protected[-2:].hex() == "5c25"


# === authentication only: the layout, by hand ======================================================
def test_authentication_only_is_the_gmac_of_the_frame_through_its_data_field():
    # primary header, security header (SPI, IV 12, ARSN 2, pad length 1), data in clear, then
    # GMAC(AAD = all of that & ABM), OCF, FECF. The ABM leaves out the MC and VC frame counts.
    key = bytes(range(32))
    abm = b"\xff\xff\x00\x00" + b"\xff" * 60
    sa = SecurityAssociation(0x0102, AUTH, key=key, iv_len=12, arsn_len=2, pad_len_len=1, mac_len=16, abm=abm,
                             iv=0x0A0B0C0D0E0F101112131415, arsn=0x3132)
    data = bytes(range(100, 140))
    frame = TmFrame(SCID, 3, 0x44, 0x55, 0x7FF, data, b"\xc1\xc2\xc3\xc4", reserve(sa))
    raw = apply(frame, sa)
    header = struct.pack(">HBBH", (SCID << 4) | (3 << 1) | 1, 0x44, 0x55, (0b11 << 11) | 0x7FF)
    security = bytes.fromhex("0102" "0A0B0C0D0E0F101112131415" "3132" "00")
    aad = header[:2] + b"\0\0" + header[4:] + security + data
    tag = AESGCM(key).encrypt(bytes.fromhex("0A0B0C0D0E0F101112131415"), b"", aad)
    body = header + security + data + tag + b"\xc1\xc2\xc3\xc4"
    assert raw == body + crc16(body).to_bytes(2, "big")
    assert len(raw) == frame.length == 6 + 17 + 40 + 16 + 4 + 2
    assert (sa.iv, sa.arsn) == (0x0A0B0C0D0E0F101112131416, 0x3133)
    # outside the ABM, the counts can change (FECF redone) and the MAC still verifies; inside, not
    rx = SecurityAssociation(0x0102, AUTH, key=key, iv_len=12, arsn_len=2, pad_len_len=1, abm=abm,
                             last_iv=0x0A0B0C0D0E0F101112131414, last_arsn=0x3131)
    other_counts = reseal(raw[:2] + b"\x99\x98" + raw[4:])
    other_vc = reseal(raw[:1] + bytes([raw[1] ^ 0x02]) + raw[2:])                 # VC 3 -> 2, inside the ABM
    refused(SdlsReason.BAD_MAC, process, other_vc, sa_table(rx), len(raw), True)
    accepted = process(other_counts, sa_table(rx), len(raw), True)
    assert (accepted.frame.mc_frame_count, accepted.frame.vc_frame_count, accepted.data) == (0x99, 0x98, data)
    assert accepted.ocf == b"\xc1\xc2\xc3\xc4" and accepted.arsn == 0x3132


def test_authenticated_encryption_with_partial_iv_arsn_abm_and_ocf_by_hand():
    # AAD = primary + security header & ABM (counts masked out); GCM under the full IV (implicit octets
    # included) over the data field; the tag truncated to 12; then the OCF in clear and the FECF.
    key = bytes(range(1, 33))
    abm = b"\xff\xff\x00\x00" + b"\xff" * 30
    sa = SecurityAssociation(0x0A0B, AE, key=key, iv_len=12, iv_tx_len=4, arsn_len=4, arsn_tx_len=2, mac_len=12,
                             abm=abm, iv=0x0000000000000001FFFFFFFF, arsn=0x01020304)
    data = bytes(range(30))
    frame = TmFrame(SCID, 5, 1, 2, 3, data, b"\xaa\xbb\xcc\xdd", reserve(sa))
    raw = apply(frame, sa)
    header = struct.pack(">HBBH", (SCID << 4) | (5 << 1) | 1, 1, 2, (0b11 << 11) | 3)
    security = bytes.fromhex("0A0B" "FFFFFFFF" "0304")
    sealed = AESGCM(key).encrypt(bytes.fromhex("0000000000000001FFFFFFFF"), data,
                                 header[:2] + b"\0\0" + header[4:] + security)
    body = header + security + sealed[:30] + sealed[30:42] + b"\xaa\xbb\xcc\xdd"
    assert raw == body + crc16(body).to_bytes(2, "big")
    assert (sa.iv, sa.arsn) == (0x000000000000000200000000, 0x01020305)
    rx = SecurityAssociation(0x0A0B, AE, key=key, iv_len=12, iv_tx_len=4, arsn_len=4, arsn_tx_len=2, mac_len=12,
                             abm=abm, last_iv=0x0000000000000001FFFFFFFE, last_arsn=0x01020303)
    accepted = process(raw, sa_table(rx), len(raw), True)
    assert (accepted.frame, accepted.iv, accepted.arsn) == (frame, 0x0000000000000001FFFFFFFF, 0x01020304)


# === properties ===================================================================================
@st.composite
def sa_pairs(draw, service=None, mac_len=None):
    """A sender SA and the receiver SA in step with it (same parameters, random key and start)."""
    service = service or draw(st.sampled_from([AE, AUTH]))
    iv_len = draw(st.integers(8, 16))
    arsn_len = draw(st.sampled_from([0, 0, 2, 4]))
    params = dict(key=draw(st.binary(min_size=32, max_size=32)), iv_len=iv_len,
                  iv_tx_len=draw(st.one_of(st.just(iv_len), st.integers(0, iv_len))), arsn_len=arsn_len,
                  arsn_tx_len=draw(st.integers(0, arsn_len)), pad_len_len=draw(st.integers(0, 3)),
                  mac_len=mac_len or draw(st.sampled_from(sorted(MAC_SIZES))), window=draw(st.integers(1, 8)),
                  abm=draw(st.one_of(st.none(), st.binary(max_size=80))))
    iv = draw(st.one_of(st.just(0), st.integers(0, (1 << 8 * iv_len) - 1000)))
    arsn = draw(st.integers(0, (1 << 8 * arsn_len) - 1000)) if arsn_len else 0
    spi = draw(st.integers(0, 0xFFFF))
    tx = SecurityAssociation(spi, service, iv=iv, arsn=arsn, **params)
    rx = SecurityAssociation(spi, service, last_iv=iv - 1 if iv else None,
                             last_arsn=arsn - 1 if arsn_len and arsn else None, **params)
    return tx, rx


def room(sa: SecurityAssociation, has_ocf: bool) -> int:
    """The shortest frame length that leaves a 20-octet data field under ``sa``."""
    return max(32, 8 + (4 if has_ocf else 0) + sum(reserve(sa)) + 20)


@SETTINGS
@given(pair=sa_pairs(), has_ocf=st.booleans(), extra=st.one_of(st.integers(0, 60), st.integers(0, 1100)),
       sizes=st.lists(st.integers(7, 600), max_size=12), seed=st.integers(0, 2**32))
def test_packets_come_back_through_packetizer_apply_process_depacketizer(pair, has_ocf, extra, sizes, seed):
    tx, rx = pair
    frame_length = min(room(tx, has_ocf) + extra, MAX_FRAME_LENGTH)
    ocfs = iter(range(1 << 30))
    packetizer = Packetizer(SCID, 2, frame_length, (lambda: next(ocfs).to_bytes(4, "big")) if has_ocf else None,
                            reserve=reserve(tx))
    assert packetizer.capacity == check_frame_length(frame_length, has_ocf) - sum(reserve(tx))
    master, depacketizer, table = MasterChannel(SCID), Depacketizer(SCID, 2), sa_table(rx)
    packets = [packet(random.Random(seed + i).randrange(0x7FF), size, seed + i, i) for i, size in enumerate(sizes)]
    received: list[bytes] = []

    def send(frame: TmFrame) -> None:
        stamped = master.stamp(frame)
        raw = apply(stamped, tx)
        assert len(raw) == frame_length
        clear = raw[6 + tx.header_size:6 + tx.header_size + len(stamped.data)]
        assert (clear == stamped.data) is (tx.service is AUTH)      # AE: 20+ octets of ciphertext never equal
        accepted = process(raw, table, frame_length, has_ocf)
        assert accepted.frame == stamped and accepted.iv == tx.iv - 1 == rx.last_iv
        received.extend(depacketizer.push(accepted.frame))

    for p in packets:
        packetizer.add(p)
        for frame in packetizer.frames():
            send(frame)
    for _ in range(2):                                     # the rest, then an idle frame
        send(packetizer.flush())
    assert received == packets
    assert depacketizer.gaps == depacketizer.discarded == 0


@pytest.mark.parametrize("service, mac_len", [(AE, 16), (AUTH, 16), (AE, 8), (AUTH, 12)])
def test_every_single_bit_flip_is_refused(service, mac_len):
    # with its FECF: refused by it. With the FECF redone: refused by the frame checks or SDLS, and by the MAC
    # for every bit of the data field and the MAC; except in the OCF, which the MAC does not cover (as CryptoLib).
    tx = SecurityAssociation(7, service, key=bytes(range(32)), iv_len=12, arsn_len=2, mac_len=mac_len, window=3,
                             iv=40, arsn=9)
    frame_length = room(tx, True)
    packetizer = Packetizer(SCID, 1, frame_length, lambda: b"\x01\x02\x03\x04", reserve=reserve(tx))
    packetizer.add(packet(5, 13, 1))
    raw = apply(packetizer.flush(), tx)
    data_start, mac_end = 6 + tx.header_size, frame_length - 6
    for bit in range(len(raw) * 8):
        rx = SecurityAssociation(7, service, key=bytes(range(32)), iv_len=12, arsn_len=2, mac_len=mac_len, window=3,
                                 last_iv=39, last_arsn=8)
        table = sa_table(rx)
        refused(SdlsReason.BAD_FRAME, process, flip(raw, bit), table, frame_length, True)
        if bit >= (frame_length - 2) * 8:
            continue                                       # a flipped FECF, redone, is the frame again
        if bit >= mac_end * 8:
            assert process(reseal(flip(raw, bit)), table, frame_length, True).ocf != b"\x01\x02\x03\x04"
            continue
        with pytest.raises(SdlsError) as caught:
            process(reseal(flip(raw, bit)), table, frame_length, True)
        if bit >= data_start * 8:
            assert caught.value.reason is SdlsReason.BAD_MAC, (bit, caught.value)
        assert (rx.last_iv, rx.last_arsn) == (39, 8)


def protected_frames(tx: SecurityAssociation, count: int, frame_length: int = 64) -> list[bytes]:
    packetizer = Packetizer(SCID, 1, frame_length, reserve=reserve(tx))
    return [apply(packetizer.flush(), tx) for _ in range(count)]


def test_replay_and_out_of_window_are_refused():
    tx = SecurityAssociation(3, AE, key=bytes(32), iv_len=12, mac_len=16, window=3)
    rx = SecurityAssociation(3, AE, key=bytes(32), iv_len=12, mac_len=16, window=3)
    table = sa_table(rx)
    frames = protected_frames(tx, 10)                      # IVs 0..9
    refused(SdlsReason.OUTSIDE_WINDOW, process, frames[4], table, 64, False)   # nothing accepted yet: 0..3
    assert rx.last_iv is None
    process(frames[3], table, 64, False)
    refused(SdlsReason.REPLAY, process, frames[3], table, 64, False)             # again
    refused(SdlsReason.REPLAY, process, frames[1], table, 64, False)             # behind
    refused(SdlsReason.OUTSIDE_WINDOW, process, frames[7], table, 64, False)     # 4 above, window 3
    assert rx.last_iv == 3
    assert process(frames[6], table, 64, False).iv == 6                          # 3 above: a gap, accepted
    assert rx.last_iv == 6


def test_an_arsn_replayed_under_a_new_iv_is_refused():
    tx = SecurityAssociation(3, AUTH, key=bytes(32), iv_len=12, arsn_len=2, arsn_tx_len=2, window=5)
    rx = SecurityAssociation(3, AUTH, key=bytes(32), iv_len=12, arsn_len=2, window=5)
    table = sa_table(rx)
    first = protected_frames(tx, 1)[0]
    process(first, table, 64, False)
    tx.arsn = 0                                            # the sender repeats its ARSN, not its IV
    refused(SdlsReason.REPLAY, process, protected_frames(tx, 1)[0], table, 64, False)
    tx.arsn = 7
    refused(SdlsReason.OUTSIDE_WINDOW, process, protected_frames(tx, 1)[0], table, 64, False)
    assert (rx.last_iv, rx.last_arsn) == (0, 0)


def test_a_partly_sent_iv_rebuilds_the_full_one_and_refuses_an_old_one():
    tx = SecurityAssociation(3, AE, key=bytes(32), iv_len=12, iv_tx_len=1, iv=0x1_00 - 2, window=5)
    rx = SecurityAssociation(3, AE, key=bytes(32), iv_len=12, iv_tx_len=1, last_iv=0x1_00 - 3, window=5)
    table = sa_table(rx)
    frames = protected_frames(tx, 4)                       # IVs 0xFE, 0xFF, 0x100, 0x101: the sent octet rolls over
    assert [process(raw, table, 64, False).iv for raw in frames] == [0xFE, 0xFF, 0x100, 0x101]
    refused(SdlsReason.OUTSIDE_WINDOW, process, frames[2], table, 64, False)     # 0x00 read as 0x200
    assert rx.last_iv == 0x101


def test_sa_refusals_name_their_reason_and_move_nothing():
    tx = SecurityAssociation(3, AE, key=bytes(32), iv_len=12)
    raw = protected_frames(tx, 1)[0]
    refused(SdlsReason.UNKNOWN_SPI, process, raw, {}, 64, False)
    refused(SdlsReason.UNKNOWN_SPI, process, raw, sa_table(SecurityAssociation(4, AE, key=bytes(32))), 64, False)
    inactive = SecurityAssociation(3, AE, key=bytes(32), active=False)
    refused(SdlsReason.INACTIVE_SA, process, raw, sa_table(inactive), 64, False)
    other_vc = SecurityAssociation(3, AE, key=bytes(32), vcid=2)
    refused(SdlsReason.WRONG_CHANNEL, process, raw, sa_table(other_vc), 64, False)
    by_id = SecurityAssociation(3, AE, key_id=9)
    refused(SdlsReason.KEY_UNAVAILABLE, process, raw, sa_table(by_id), 64, False)
    assert process(raw, sa_table(by_id), 64, False, keys={9: bytes(32)}).iv == 0
    wrong_key = SecurityAssociation(3, AE, key=bytes(31) + b"\x01")
    refused(SdlsReason.BAD_MAC, process, raw, sa_table(wrong_key), 64, False)
    refused(SdlsReason.BAD_FRAME, process, raw[:-1], sa_table(wrong_key), 64, False)
    refused(SdlsReason.BAD_FRAME, process, raw, sa_table(wrong_key), 64, True)    # OCF flag off
    assert [sa.last_iv for sa in (inactive, other_vc, wrong_key)] == [None] * 3
    with pytest.raises(ValueError, match="frame length"):
        process(raw, sa_table(wrong_key), 31, False)


def test_malformed_frames_are_refused():
    tx = SecurityAssociation(3, AUTH, key=bytes(32), iv_len=12, pad_len_len=1)
    rx = SecurityAssociation(3, AUTH, key=bytes(32), iv_len=12, pad_len_len=1)
    raw = protected_frames(tx, 1)[0]
    pad = 6 + 2 + 12
    refused(SdlsReason.MALFORMED, process, reseal(raw[:pad] + b"\x01" + raw[pad + 1:]), sa_table(rx), 64, False)
    big = SecurityAssociation(3, AUTH, key=bytes(32), iv_len=16, arsn_len=8, pad_len_len=3)  # data field 11
    refused(SdlsReason.MALFORMED, process, raw, sa_table(big), 64, False)
    # a first header pointer inside the full data field but past the SA's: refused before the MAC
    fhp = 64 - 8 - 15 - 16                                 # the data field proper is 25 octets: 0..24
    refused(SdlsReason.BAD_FRAME, process, reseal(raw[:4] + struct.pack(">H", 0x1800 | fhp) + raw[6:]),
            sa_table(rx), 64, False)
    assert rx.last_iv is None


def test_apply_refusals():
    tx = SecurityAssociation(3, AE, key=bytes(32), iv_len=12, vcid=1)
    frame = Packetizer(SCID, 1, 64, reserve=reserve(tx)).flush()
    refused(SdlsReason.MALFORMED, apply, Packetizer(SCID, 1, 64).flush(), tx)              # no room reserved
    refused(SdlsReason.MALFORMED, apply, Packetizer(SCID, 1, 64, reserve=(15, 15)).flush(), tx)
    refused(SdlsReason.WRONG_CHANNEL, apply, Packetizer(SCID, 2, 64, reserve=reserve(tx)).flush(), tx)
    refused(SdlsReason.INACTIVE_SA, apply, frame, SecurityAssociation(3, AE, key=bytes(32), active=False))
    refused(SdlsReason.KEY_UNAVAILABLE, apply, frame, SecurityAssociation(3, AE, key_id=1), keys={2: bytes(32)})
    tx.iv = (1 << 96) - 1
    apply(frame, tx)                                       # the last IV
    refused(SdlsReason.COUNTER_EXHAUSTED, apply, frame, tx)
    assert tx.iv == 1 << 96
    arsn = SecurityAssociation(3, AUTH, key=bytes(32), arsn_len=1, arsn=255)
    apply(Packetizer(SCID, 1, 64, reserve=reserve(arsn)).flush(), arsn)
    refused(SdlsReason.COUNTER_EXHAUSTED, apply, Packetizer(SCID, 1, 64, reserve=reserve(arsn)).flush(), arsn)


def test_the_packetizer_reserves_room_and_keeps_a_spanning_data_field():
    assert Packetizer(SCID, 0, 1024, reserve=(16, 16)).capacity == 1024 - 8 - 32
    assert Packetizer(SCID, 0, 1024, lambda: bytes(4), reserve=(16, 16)).capacity == 1024 - 12 - 32
    assert Packetizer(SCID, 0, 40, reserve=(10, 2)).capacity == 20
    with pytest.raises(ValueError, match="at least 20"):
        Packetizer(SCID, 0, 40, reserve=(10, 3))
    with pytest.raises(ValueError, match="at least 20"):
        check_frame_length(52, True, 21)
    assert check_frame_length(52, True, 20) == 20 and check_frame_length(32, True) == 20
    for bad in [(-1, 0), (1,), (1, 2, 3), "ab", 5]:
        with pytest.raises(ValueError, match="reserve"):
            Packetizer(SCID, 0, 64, reserve=bad)
    frame = Packetizer(SCID, 0, 64, reserve=(18, 16)).flush()
    assert (frame.reserved, frame.length, len(frame.data)) == ((18, 16), 64, 22)
    with pytest.raises(ValueError, match="sdls_tm.apply"):
        frame.encode()
    with pytest.raises(ValueError, match="first header pointer"):
        TmFrame(SCID, 0, 0, 0, 22, bytes(22), None, (18, 16))


def test_receive_state_saved_and_restored_refuses_a_frame_seen_before():
    tx = SecurityAssociation(3, AUTH, key=bytes(32), arsn_len=2)
    rx = SecurityAssociation(3, AUTH, key=bytes(32), arsn_len=2)
    frames = protected_frames(tx, 2)
    process(frames[0], sa_table(rx), 64, False)
    fresh = sa_table(SecurityAssociation(3, AUTH, key=bytes(32), arsn_len=2))
    restore_receive_state(fresh, save_receive_state(sa_table(rx)))
    refused(SdlsReason.REPLAY, process, frames[0], fresh, 64, False)
    assert process(frames[1], fresh, 64, False).iv == 1


@SETTINGS
@given(pair=sa_pairs(), sizes=st.lists(st.integers(7, 300), min_size=1, max_size=8), seed=st.integers(0, 1 << 16))
def test_unverified_reads_what_process_verifies_and_never_an_encrypted_frame(pair, sizes, seed):
    tx, rx = pair
    frame_length = room(tx, True) + 100
    packetizer = Packetizer(SCID, 1, frame_length, lambda: b"\x01\x02\x03\x04", reserve=reserve(tx))
    for i, size in enumerate(sizes):
        packetizer.add(packet(0x42, size, seed + i))
    for frame in [*packetizer.frames(), packetizer.flush()]:
        raw = apply(frame, tx)
        if tx.service is AE:
            refused(SdlsReason.KEY_UNAVAILABLE, unverified, raw, rx, frame_length, True)
        else:
            assert unverified(raw, rx, frame_length, True) == frame     # the data the flight framed
        assert process(raw, sa_table(rx), frame_length, True).frame == frame
    other = SecurityAssociation((rx.spi + 1) % 0x10000, AUTH, key=bytes(32), iv_len=12, mac_len=16)
    refused(SdlsReason.UNKNOWN_SPI, unverified, raw, other, frame_length, True)
    refused(SdlsReason.BAD_FRAME, unverified, flip(raw, 9), rx, frame_length, True)     # the FECF is checked
